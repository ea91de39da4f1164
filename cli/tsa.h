/* RFC 3161 trusted time for manifests (issue 10): a time-stamping authority signs the
 * SHA-256 of an epoch's manifest.json bytes, so that an auditor can show the epoch existed by
 * then, whatever the signing key's owner says later. The token is the TSA's whole
 * TimeStampResp (DER), kept as manifest.tsr next to manifest.json; it checks by hand with
 *   openssl ts -verify -data manifest.json -in manifest.tsr -CAfile TSA-CA.pem
 * Requests ask for SHA-256, a random nonce and the TSA's certificate. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TSA_RESPONSE_MAX (256u << 10)  /* a response holds one token and a few certificates */
#define TSA_TIMEOUT_S 30

/* Asks the TSA at url (http:// or https://) for a token over data's SHA-256 and checks that
 * the response grants it, for this digest and nonce. Appends the response DER to out.
 * Returns 0, -EIO (transport; err says why), -EBADMSG (refused or not a matching response),
 * -ENOMEM. */
int tsa_stamp(const char *url, const void *data, size_t len, struct buf *out, char *err,
              size_t err_len);

/* Checks a response (DER) against data: granted, a SHA-256 imprint of data, signed by a
 * certificate (extended key usage timeStamping) that chains to a CA in ca_file. Returns 0 with
 * ret_time ("YYYY-MM-DDTHH:MM:SSZ", may be NULL) set, -EBADMSG (err says why), -ENOENT
 * (ca_file cannot be read), -ENOMEM. */
__attribute__((warn_unused_result)) int tsa_verify(const void *resp, size_t resp_len,
                                                   const void *data, size_t len,
                                                   const char *ca_file, char ret_time[32],
                                                   char *err, size_t err_len);
