/* The 2017 Trust Services Criteria (AICPA TSP section 100, with revised points of focus,
 * 2022): the criterion IDs rules may tag, and the category each belongs to.
 *
 * The list is fixed by the AICPA; it is short (61 IDs), so lookups are a linear scan. The
 * order here (common criteria, then availability, processing integrity, confidentiality,
 * privacy) is the order criteria appear in a record's `criteria` array. */
#include <string.h>

#include "rules/rules.h"

static const struct tsc {
        const char *id;
        const char *category;
} tsc[] = {
        /* CC1 control environment .. CC9 risk mitigation (common criteria = security) */
        { "CC1.1", "security" }, { "CC1.2", "security" }, { "CC1.3", "security" },
        { "CC1.4", "security" }, { "CC1.5", "security" },
        { "CC2.1", "security" }, { "CC2.2", "security" }, { "CC2.3", "security" },
        { "CC3.1", "security" }, { "CC3.2", "security" }, { "CC3.3", "security" },
        { "CC3.4", "security" },
        { "CC4.1", "security" }, { "CC4.2", "security" },
        { "CC5.1", "security" }, { "CC5.2", "security" }, { "CC5.3", "security" },
        { "CC6.1", "security" }, { "CC6.2", "security" }, { "CC6.3", "security" },
        { "CC6.4", "security" }, { "CC6.5", "security" }, { "CC6.6", "security" },
        { "CC6.7", "security" }, { "CC6.8", "security" },
        { "CC7.1", "security" }, { "CC7.2", "security" }, { "CC7.3", "security" },
        { "CC7.4", "security" }, { "CC7.5", "security" },
        { "CC8.1", "security" },
        { "CC9.1", "security" }, { "CC9.2", "security" },
        /* additional criteria */
        { "A1.1", "availability" }, { "A1.2", "availability" }, { "A1.3", "availability" },
        { "PI1.1", "processing_integrity" }, { "PI1.2", "processing_integrity" },
        { "PI1.3", "processing_integrity" }, { "PI1.4", "processing_integrity" },
        { "PI1.5", "processing_integrity" },
        { "C1.1", "confidentiality" }, { "C1.2", "confidentiality" },
        { "P1.1", "privacy" }, { "P2.1", "privacy" },
        { "P3.1", "privacy" }, { "P3.2", "privacy" },
        { "P4.1", "privacy" }, { "P4.2", "privacy" }, { "P4.3", "privacy" },
        { "P5.1", "privacy" }, { "P5.2", "privacy" },
        { "P6.1", "privacy" }, { "P6.2", "privacy" }, { "P6.3", "privacy" },
        { "P6.4", "privacy" }, { "P6.5", "privacy" }, { "P6.6", "privacy" },
        { "P6.7", "privacy" },
        { "P7.1", "privacy" }, { "P8.1", "privacy" },
};

_Static_assert(sizeof(tsc) / sizeof(tsc[0]) == 61, "the 2017 TSC have 61 criteria");

size_t rules_criteria_count(void)
{
        return sizeof(tsc) / sizeof(tsc[0]);
}

const char *rules_criterion_at(size_t i)
{
        return i < rules_criteria_count() ? tsc[i].id : NULL;
}

int rules_criterion_index(const char *id)
{
        if (!id)
                return -1;
        for (size_t i = 0; i < rules_criteria_count(); i++)
                if (!strcmp(tsc[i].id, id))
                        return (int)i;
        return -1;
}

const char *rules_criterion_category(const char *id)
{
        int i = rules_criterion_index(id);

        return i < 0 ? NULL : tsc[i].category;
}
