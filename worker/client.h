/*
 * worker/client.h -- what evhttp 2.1 does not do for client connections:
 * count them (limits.max_connections), bound the time a request head and
 * a request body may take (timeouts.client), and refuse ambiguous or
 * malformed bytes (common/reqscan.h) before evhttp parses them.
 */
#ifndef LB_CLIENT_H
#define LB_CLIENT_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config/config.h"

struct lb_clients;

/* worker/client.c */

/*
 * Watch every connection HTTP accepts (it installs evhttp_set_bevcb).
 * NULL on ENOMEM.
 */
struct lb_clients *
lb_clients_new(struct event_base *, struct evhttp *http, const struct lb_cfg *);
/* Pause and resume this listener around max_connections. */
int lb_clients_add_listener(struct lb_clients *, struct evhttp_bound_socket *);
/* Forget the listeners (they are being removed: draining). */
void lb_clients_drop_listeners(struct lb_clients *);
void lb_clients_free(struct lb_clients *);
/* Connections open now. */
unsigned lb_clients_count(const struct lb_clients *);
/*
 * REQ is being answered asynchronously (it went to a backend): GONE(ARG)
 * is called if evhttp closes its connection before lb_clients_idle, as
 * evhttp_connection_set_closecb would (this module owns that callback).
 * Bytes that arrive meanwhile are scanned; if they are malformed,
 * lb_clients_idle asks evhttp to close the connection after this answer.
 * lb_clients_idle: REQ's answer is about to end; GONE is forgotten.
 */
void lb_clients_busy(struct lb_clients *, struct evhttp_request *,
    void (*gone)(struct evhttp_connection *, void *), void *arg);
void lb_clients_idle(struct lb_clients *, struct evhttp_request *);
/*
 * evhttp may have switched BEV's reading back on (it does after an
 * answer): keep our own read event ahead of its (see client.c).
 */
void lb_clients_reading(struct lb_clients *, struct bufferevent *bev);

#endif /* LB_CLIENT_H */
