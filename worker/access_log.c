/*
 * worker/access_log.c -- the access log (being written).
 */
#include <stdbool.h>

#include "worker/access_log.h"

int
lb_access_log_open(const char *target)
{
	return 0;
}

int
lb_access_log_reopen(void)
{
	return 0;
}

void
lb_access_log_close(void)
{
}

bool
lb_access_log_enabled(void)
{
	return false;
}

void
lb_access_log_write(const struct lb_access *a)
{
}
