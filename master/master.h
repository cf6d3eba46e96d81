/*
 * master/master.h -- the master process: listeners, generations, children.
 */
#ifndef LB_MASTER_H
#define LB_MASTER_H

#include "config/config.h"

/* master/master.c */

/*
 * Run the master with CFG (ownership passes to the master) until it is
 * told to stop. FOREGROUND keeps it attached to the terminal. Returns the
 * process exit status.
 */
int		 lb_master_run(struct lb_cfg *cfg, const char *cfgfile,
		    bool foreground);

#endif /* LB_MASTER_H */
