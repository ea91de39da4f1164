/* Private to the folder export's two files (export-folder.c writes an epoch,
 * export-folder-read.c reads a tree back): the helpers both sides share. */
#pragma once
#include <stdbool.h>

#include "outputs/outputs.h"

/* Fills err (when set) with "WHAT PATH: strerror(-r)" and returns r. */
int export_fail(struct store_error *err, int r, const char *what, const char *path);
/* A chain or criterion name becomes a folder name: refuse what could leave the folder or
 * hide in it. */
bool export_name_ok(const char *s);
