/*
 * worker/checker.c -- the health checker process (being written).
 */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "worker/checker.h"
#include "worker/worker.h"

bool
lb_checker_needed(const struct lb_cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].health.enabled)
			return true;
	return false;
}

int
lb_checker_main(const struct lb_checker_args *a)
{
	char	 c;
	ssize_t	 n;

	c = LB_CTL_READY;
	if (write(a->ctl_fd, &c, 1) != 1)
		return LB_EXIT_FATAL;
	while ((n = read(a->ctl_fd, &c, 1)) == 1 || (n == -1 && errno == EINTR))
		if (n == 1 && (c == LB_CTL_QUIT || c == LB_CTL_TERM))
			break;
	return 0;
}
