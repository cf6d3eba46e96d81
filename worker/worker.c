/*
 * worker/worker.c -- a worker process's life: serve client connections
 * on the inherited sockets (worker/client.c), tell the master it
 * accepts, serve, drain, exit.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/shm.h"
#include "worker/access_log.h"
#include "worker/admin.h"
#include "worker/client.h"
#include "worker/proxy.h"
#include "worker/worker.h"

/*
 * After the last request in flight is answered, idle keep-alive clients
 * get this long to send one more request (answered with Connection: close)
 * before their connections are closed under them.
 */
#define DRAIN_GRACE_MS 1000

/* The worker's state: the one mutable process-wide struct. */
static struct {
	struct event_base *base;
	struct lb_proxy	   px;
	struct lb_admin	  *admin; /* owned; NULL without admin.listen */
	struct lb_clients *clients;
	struct event	  *ctl_ev;
	struct event	  *grace_ev;	/* drain: idle grace, then exit */
	struct event	  *deadline_ev; /* drain: shutdown_timeout */
	int		   ctl_fd;
	bool		   draining;
	struct lb_shm	  *shm;	   /* the generation's */
	unsigned	   slot;   /* ours */
	const unsigned	  *owners; /* listener i belongs to slot owners[i] */
	int		  *lidx;   /* owned; listener i's lb_clients index */
	size_t		   n_fds;
} W;

/*
 * Accept on our own listening sockets, and on those of every vacant slot.
 *
 * The kernel spreads new connections over an address's SO_REUSEPORT
 * sockets by a hash of the client's address and port, whether or not a
 * process accepts on a socket. A worker that crashed leaves its sockets
 * to the master (which holds every slot's for the queue's sake, see
 * master/listen.c), and the connections hashed to them would wait there
 * until its replacement starts: up to 10 s of respawn back-off. So while a
 * slot is vacant the live workers of the generation accept on its sockets
 * too, queue included, and give them back when the replacement says it
 * accepts. The other ways out were worse: closing the dead slot's sockets
 * resets the connections queued on them (net.ipv4.tcp_migrate_req, which
 * would move them, is off by default and not ours to set), and a reuseport
 * BPF program that skips vacant sockets would have to be rebuilt at every
 * death and birth, around the order of the kernel's socket group, which
 * no interface promises.
 */
static void
adopt(void)
{
	for (size_t i = 0; i < W.n_fds; i++) {
		unsigned o = W.owners[i];
		bool	 serve = o == W.slot ||
		    (o < W.shm->n_slots && atomic_load(&W.shm->vacant[o]) != 0);

		lb_clients_serve(W.clients, (size_t)W.lidx[i], serve);
	}
}

static void
stop_accepting(void)
{
	lb_clients_drain(W.clients);
	lb_admin_stop(W.admin);
}

static void
exit_now(evutil_socket_t fd, short what, void *arg)
{
	/*
	 * The idle grace (ARG NULL) ends only with nothing in flight: a
	 * request an idle client sent meanwhile is answered, and drained()
	 * starts the grace again once it is.
	 */
	if (arg == NULL && W.px.inflight > 0)
		return;
	lb_clients_close_idle(W.clients);
	if (arg != NULL) {
		log_warnx("%s", (const char *)arg);
		lb_clients_cut(W.clients);
	}
	event_base_loopbreak(W.base);
}

/* The last request in flight is done: give idle clients a moment. */
static void
drained(void *arg)
{
	struct timeval tv;

	lb_tv_ms(&tv, DRAIN_GRACE_MS);
	evtimer_add(W.grace_ev, &tv);
}

static void
drain(void)
{
	const struct lb_cfg *cfg = W.px.cfg;
	struct timeval	     tv;

	if (W.draining)
		return;
	W.draining = true;
	stop_accepting();
	W.px.draining = true;
	W.px.idle_cb = drained;
	lb_tv_ms(&tv, cfg->shutdown_timeout_ms);
	evtimer_add(W.deadline_ev, &tv);
	log_info("draining: %u requests in flight", W.px.inflight);
	if (W.px.inflight == 0)
		drained(NULL);
}

static void
ctl_read(evutil_socket_t fd, short what, void *arg)
{
	char	buf[16];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The master is gone: finish what we have and go. */
		log_warnx("master went away; draining");
		event_del(W.ctl_ev);
		drain();
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		switch (buf[i]) {
		case LB_CTL_QUIT:
			drain();
			break;
		case LB_CTL_TERM:
			event_base_loopbreak(W.base);
			break;
		case LB_CTL_SLOTS:
			if (!W.draining)
				adopt();
			break;
		case LB_CTL_REOPEN:
			if (log_reopen() == -1)
				log_warn("reopening the error log");
			if (lb_access_log_reopen() == -1)
				log_warn("reopening the access log %s",
				    W.px.cfg->access_log);
			break;
		}
	}
}

/*
 * The epoll changelist folds the add/delete churn of one loop turn (a
 * write event added and removed again, a read event switched off and on
 * around backpressure) into at most one epoll_ctl per descriptor. It is unsafe only
 * with dup()ed descriptors (libevent's event.h), and a worker has none:
 * every socket in it was accepted, connected or inherited whole.
 */
static struct event_base *
new_base(void)
{
	struct event_config *ec;
	struct event_base   *base;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

static void
ready(void)
{
	char c = LB_CTL_READY;

	if (write(W.ctl_fd, &c, 1) != 1)
		log_warn("telling the master we are ready");
}

int
lb_worker_main(const struct lb_worker_args *a)
{
	const struct lb_cfg *cfg = a->cfg;
	int		     rc = LB_EXIT_FATAL;

	memset(&W, 0, sizeof(W));
	W.ctl_fd = a->ctl_fd;
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Bodies pass through in 64 KiB slices that are freed as soon as the
	 * client has them; glibc would give that memory back to the kernel
	 * and ask again (a brk per slice), and evbuffer's chains for them are
	 * just over the 128 KiB at which glibc maps and unmaps each one. Keep
	 * up to 8 MiB around, and map only allocations over 1 MiB.
	 */
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);

	lb_access_log_json(cfg->access_log_json);
	if (lb_access_log_open(cfg->access_log) == -1) {
		log_warn("access_log %s", cfg->access_log);
		goto out;
	}
	if ((W.base = new_base()) == NULL) {
		log_warnx("event_base_new failed");
		goto out;
	}
	if (lb_proxy_init(&W.px, W.base, cfg, a->shm, a->slot,
		(uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL)) ==
	    -1) {
		log_warn("proxy set-up");
		goto out;
	}
	if ((W.clients = lb_clients_new(W.base, cfg, &W.px)) == NULL) {
		log_warn("client connections");
		goto out;
	}
	W.shm = a->shm;
	W.slot = a->slot;
	W.owners = a->owners;
	if ((W.lidx = calloc(a->n_fds ? a->n_fds : 1, sizeof(*W.lidx))) == NULL)
		goto out;
	for (size_t i = 0; i < a->n_fds; i++) {
		if ((W.lidx[i] = lb_clients_listen(W.clients, a->fds[i],
			 a->owners[i] == a->slot)) == -1) {
			log_warnx("cannot serve listening socket %d",
			    a->fds[i]);
			goto out;
		}
		W.n_fds++;
	}
	/* A sibling may be dead already, waiting for its respawn. */
	adopt();

	if (a->admin_fd != -1 &&
	    (W.admin = lb_admin_new(W.base, a->admin_fd, cfg, a->shm)) ==
		NULL) {
		log_warnx("cannot serve the admin socket %d", a->admin_fd);
		goto out;
	}

	W.ctl_ev = event_new(W.base, a->ctl_fd, EV_READ | EV_PERSIST, ctl_read,
	    NULL);
	W.grace_ev = evtimer_new(W.base, exit_now, NULL);
	W.deadline_ev = evtimer_new(W.base, exit_now,
	    "shutdown_timeout reached with requests in flight");
	if (W.ctl_ev == NULL || W.grace_ev == NULL || W.deadline_ev == NULL ||
	    event_add(W.ctl_ev, NULL) == -1)
		goto out;
	evutil_make_socket_nonblocking(a->ctl_fd);

	ready();
	event_base_dispatch(W.base);
	rc = 0;
out:
	lb_admin_free(W.admin);
	lb_clients_free(W.clients);
	free(W.lidx);
	if (W.px.ups != NULL)
		lb_proxy_fini(&W.px);
	if (W.ctl_ev != NULL)
		event_free(W.ctl_ev);
	if (W.grace_ev != NULL)
		event_free(W.grace_ev);
	if (W.deadline_ev != NULL)
		event_free(W.deadline_ev);
	if (W.base != NULL)
		event_base_free(W.base);
	lb_access_log_close();
	return rc;
}
