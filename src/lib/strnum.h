/* strnum: the one strict number parser for wire and config input:
 * ASCII digits only, no sign, no spaces, explicit range, overflow detected. */
#ifndef STRNUM_H
#define STRNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True and *value_r set if data[0..len) is 1+ digits and the value is
 * <= max.  Leading zeros are allowed. */
bool str_to_u64(const void *data, size_t len, uint64_t max, uint64_t *value_r);
/* Same, NUL-terminated. */
bool str_to_u64z(const char *s, uint64_t max, uint64_t *value_r);
/* IMAP nz-number/number32 helpers. */
bool str_to_u32(const void *data, size_t len, uint32_t *value_r);

#endif
