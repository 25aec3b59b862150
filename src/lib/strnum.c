/* strnum: strict decimal parsing; see strnum.h. */
#include "strnum.h"

#include <string.h>

bool
str_to_u64(const void *data, size_t len, uint64_t max, uint64_t *value_r)
{
	const unsigned char *p = data;
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return false;
	*value_r = v;
	return true;
}

bool
str_to_u64z(const char *s, uint64_t max, uint64_t *value_r)
{
	return str_to_u64(s, strlen(s), max, value_r);
}

bool
str_to_u32(const void *data, size_t len, uint32_t *value_r)
{
	uint64_t v;

	if (!str_to_u64(data, len, UINT32_MAX, &v))
		return false;
	*value_r = (uint32_t)v;
	return true;
}
