/*
 * master/master.c -- the master's process cycle.
 *
 * The master binds the listeners, forks the workers of a config
 * generation and then only reacts: signal handlers set a flag and write a
 * byte to a self-pipe; the loop polls that pipe and the workers' control
 * sockets and acts on what it finds. It never serves traffic.
 *
 * A reload builds a whole new generation (config, shared memory, workers)
 * beside the running one; the old generation is asked to drain only once
 * every new worker has said it accepts. A failed reload changes nothing.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shm.h"
#include "common/str.h"
#include "master/master.h"
#include "worker/checker.h"
#include "worker/explain.h"
#include "worker/tls.h"
#include "worker/worker.h"

#define READY_TIMEOUT_MS 10000 /* a new generation must start by then */
#define FAST_STOP_MS	 2000  /* SIGTERM: then SIGKILL stragglers */
#define QUICK_DEATH_MS	 1000  /* dying sooner than this is a crash loop */
#define BACKOFF_MAX_MS	 10000

/* One configuration and everything made for it. */
struct gen {
	unsigned       id;
	struct lb_cfg *cfg;	 /* owned */
	struct lb_shm *shm;	 /* owned */
	unsigned       children; /* live processes of this generation */
	bool	       retired;	 /* told to quit: no respawns */
};

struct child {
	pid_t	    pid; /* 0: slot waiting for a respawn */
	int	    ctl; /* our end of the socketpair, or -1 */
	struct gen *gen;
	unsigned    slot;
	bool	    checker; /* the health checker, not a worker */
	bool	    ready;
	bool	    quitting;	  /* asked to exit: not a crash */
	int64_t	    started;	  /* lb_now_ms() at fork */
	unsigned    quick_deaths; /* in a row, for the back-off */
	int64_t	    respawn_at;	  /* when pid == 0 */
};

/*
 * The master's state: the one mutable process-wide struct. Signal handlers
 * touch only the sig_atomic_t flags and the self-pipe.
 */
static struct {
	bool	    foreground;
	struct gen *cur;  /* serving, or being replaced */
	struct gen *next; /* starting, during a reload */
	int64_t	    next_deadline;
	bool	    next_failed;    /* a worker of next cannot start */
	bool	    reload_pending; /* SIGHUP while next started */
	bool	    announced;	    /* the first generation served */
	int	    ready_fd;	    /* lb_daemonize's, until announced */
	int64_t	    ready_deadline; /* for ready_fd */
	int	    exit_code;	    /* 1: the first generation cannot run */
	unsigned    gen_ids;

	struct lb_listener *listeners; /* owned; every address we hold */
	size_t		    n_listeners;
	struct lb_listener  admin;	/* n_fds == 0: no admin listener */
	struct lb_listener  admin_prev; /* the serving one, while a reload
					   moves it (admin_moved) */
	bool		    admin_moved;

	struct child *children; /* owned array */
	size_t	      n_children;

	char	*pid_file; /* owned; the one we wrote, or NULL */
	bool	 stopping;
	int64_t	 stop_deadline;
	uint64_t reloads_ok, reloads_failed;

	int selfpipe[2];
} M = { .selfpipe = { -1, -1 }, .ready_fd = -1 };

static volatile sig_atomic_t sig_hup, sig_usr1, sig_quit, sig_term, sig_chld;

static void
on_signal(int signo)
{
	int  saved = errno;
	char c = (char)signo;

	switch (signo) {
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGQUIT:
		sig_quit = 1;
		break;
	case SIGTERM:
	case SIGINT:
		sig_term = 1;
		break;
	case SIGCHLD:
		sig_chld = 1;
		break;
	}
	/* Wake poll(); a full pipe already has a wake-up in it. */
	if (write(M.selfpipe[1], &c, 1) == -1)
		(void)0;
	errno = saved;
}

static void
signals_install(void)
{
	static const int sigs[] = {
		SIGHUP,
		SIGUSR1,
		SIGQUIT,
		SIGTERM,
		SIGINT,
		SIGCHLD,
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------- listeners */

/*
 * Make sure every address of CFG is bound with enough slots. Returns 0, or
 * -1 with err set; on failure sockets opened by this call are closed again
 * and the existing ones are untouched.
 */
static int
listeners_apply(const struct lb_cfg *cfg, char *err, size_t errlen)
{
	struct lb_listener *l, *grown;
	size_t		    before = M.n_listeners;

	for (size_t i = 0; i < M.n_listeners; i++) {
		M.listeners[i].used = false;
		M.listeners[i].n_fds_old = M.listeners[i].n_fds;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct lb_sockaddr sa;

		sa.ss = cfg->listen[i].addr;
		sa.len = cfg->listen[i].addrlen;
		l = lb_listener_find(M.listeners, M.n_listeners, &sa);
		if (l != NULL) {
			if (lb_listener_grow(l, cfg->workers, err, errlen) ==
			    -1)
				goto fail;
			l->used = true;
			continue;
		}
		grown = reallocarray(M.listeners, M.n_listeners + 1,
		    sizeof(*grown));
		if (grown == NULL) {
			lb_snprintf(err, errlen, "%s", strerror(errno));
			goto fail;
		}
		M.listeners = grown;
		l = &M.listeners[M.n_listeners];
		if (lb_listener_open(l, &sa, cfg->workers, true, err, errlen) ==
		    -1) {
			lb_listener_close(l);
			goto fail;
		}
		l->used = true;
		M.n_listeners++;
	}
	return 0;
fail:
	while (M.n_listeners > before)
		lb_listener_close(&M.listeners[--M.n_listeners]);
	return -1;
}

static void listeners_prune(void);

/* Is L one of CFG's listen addresses? */
static bool
cfg_listens_on(const struct lb_cfg *cfg, const struct lb_listener *l)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (lb_addr_equal((const struct sockaddr *)&cfg->listen[i].addr,
			(const struct sockaddr *)&l->addr.ss))
			return true;
	return false;
}

/*
 * A reload failed after binding: close what it bound, new addresses and
 * the sockets it added to old ones. The serving workers were forked
 * before those existed, so nobody would accept what the kernel queues
 * on them.
 */
static void
listeners_restore(const struct lb_cfg *cfg)
{
	for (size_t i = 0; i < M.n_listeners; i++) {
		struct lb_listener *l = &M.listeners[i];

		l->used = cfg_listens_on(cfg, l);
		while (l->used && l->n_fds > l->n_fds_old)
			close(l->fds[--l->n_fds]);
	}
	if (M.admin_moved) {
		lb_listener_close(&M.admin);
		M.admin = M.admin_prev;
		memset(&M.admin_prev, 0, sizeof(M.admin_prev));
	}
	listeners_prune();
}

/* Close the addresses the serving config no longer has. */
static void
listeners_prune(void)
{
	lb_listener_close(&M.admin_prev);
	M.admin_moved = false;
	size_t j = 0;

	for (size_t i = 0; i < M.n_listeners; i++) {
		if (M.listeners[i].used)
			M.listeners[j++] = M.listeners[i];
		else
			lb_listener_close(&M.listeners[i]);
	}
	M.n_listeners = j;
}

/*
 * The admin listener: one socket, any worker accepts on it. When a reload
 * moves it, the serving generation's stays open in admin_prev until the
 * new generation serves (listeners_prune) or the reload fails
 * (listeners_restore).
 */
static int
admin_apply(const struct lb_cfg *cfg, char *err, size_t errlen)
{
	struct lb_sockaddr sa;
	struct lb_listener l;

	memset(&l, 0, sizeof(l));
	if (cfg->admin != NULL) {
		sa.ss = cfg->admin->addr;
		sa.len = cfg->admin->addrlen;
		if (M.admin.n_fds > 0 &&
		    lb_addr_equal((struct sockaddr *)&M.admin.addr.ss,
			(struct sockaddr *)&sa.ss))
			return 0;
		if (lb_listener_open(&l, &sa, 1, false, err, errlen) == -1) {
			lb_listener_close(&l);
			return -1;
		}
	} else if (M.admin.n_fds == 0) {
		return 0;
	}
	if (M.cur == NULL) {
		/* Starting: nobody serves the old one. */
		lb_listener_close(&M.admin);
		M.admin = l;
		return 0;
	}
	lb_listener_close(&M.admin_prev);
	M.admin_prev = M.admin;
	M.admin_moved = true;
	M.admin = l;
	return 0;
}

/* The admin listener G's workers serve (see admin_apply). */
static struct lb_listener *
admin_of(const struct gen *g)
{
	return M.admin_moved && g != M.next ? &M.admin_prev : &M.admin;
}

/* ------------------------------------------------------- children */

static void children_compact(void);

static struct gen *
gen_new(struct lb_cfg *cfg)
{
	struct gen *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if ((g->shm = lb_shm_create(cfg->n_servers, cfg->n_routes,
		 cfg->workers)) == NULL) {
		free(g);
		return NULL;
	}
	if (lb_carry_limits(g->shm, cfg, M.cur != NULL ? M.cur->shm : NULL,
		M.cur != NULL ? M.cur->cfg : NULL) == -1) {
		lb_shm_destroy(g->shm);
		free(g);
		return NULL;
	}
	g->id = ++M.gen_ids;
	/* No counter a scraper sees may go backwards across a reload. */
	if (M.cur != NULL)
		lb_carry_over(g->shm, cfg, M.cur->shm, M.cur->cfg);
	atomic_store(&g->shm->generation, g->id);
	g->cfg = cfg;
	return g;
}

static void
gen_release(struct gen *g)
{
	if (g == NULL || g->children > 0 || g == M.cur || g == M.next)
		return;
	lb_shm_destroy(g->shm);
	lb_cfg_free(g->cfg);
	free(g);
}

/* Runs in the new child: become the health checker of generation G. */
static void __attribute__((noreturn)) checker_main(struct gen *g, int ctl)
{
	struct lb_checker_args args;
	char		       err[LB_ERRLEN];

	log_procname("checker");
	lb_proctitle_set("lbmaster: health checker");
	/* It probes by address: listening sockets are not its business. */
	for (size_t i = 0; i < M.n_listeners; i++)
		for (size_t s = 0; s < M.listeners[i].n_fds; s++)
			close(M.listeners[i].fds[s]);
	for (size_t s = 0; s < M.admin.n_fds; s++)
		close(M.admin.fds[s]);
	for (size_t s = 0; s < M.admin_prev.n_fds; s++)
		close(M.admin_prev.fds[s]);
	if (lb_drop_privileges(g->cfg->user, g->cfg->group, err, sizeof(err)) ==
	    -1) {
		log_error("%s", err);
		_exit(LB_EXIT_FATAL);
	}
	args.cfg = g->cfg;
	args.shm = g->shm;
	args.ctl_fd = ctl;
	args.generation = g->id;
	_exit(lb_checker_main(&args));
}

/* Runs in the new child: become worker SLOT (or the checker) of G. */
static void __attribute__((noreturn))
child_main(struct gen *g, unsigned slot, bool checker, int ctl)
{
	struct lb_worker_args args;
	struct lb_listener   *admin = admin_of(g);
	char		      err[LB_ERRLEN], name[32];
	int		     *fds;
	unsigned	     *owners;
	size_t		      n = 0, cap = 0;
	unsigned	      workers = g->cfg->workers;

	/* The master's handlers and descriptors are not ours. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	close(M.selfpipe[0]);
	close(M.selfpipe[1]);
	for (size_t i = 0; i < M.n_children; i++)
		if (M.children[i].ctl != -1)
			close(M.children[i].ctl);
	/* Only the master may tell lbmaster's caller that it started. */
	if (M.ready_fd != -1)
		close(M.ready_fd);
	/* A daemon's children leave the terminal alone, as it does. */
	if (!M.foreground && strcmp(g->cfg->error_log, "stderr") != 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd != -1) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}

	if (checker)
		checker_main(g, ctl);
	lb_snprintf(name, sizeof(name), "worker %u", slot);
	log_procname(name);
	lb_proctitle_set("lbmaster: worker process");
	/*
	 * cpu_affinity: a slot keeps its CPUs across respawns and reloads.
	 * The health checker and the master stay where the kernel puts
	 * them. A set the kernel refuses (a CPU gone offline since the
	 * config was read) leaves the worker unpinned rather than down.
	 */
	if (g->cfg->n_cpu_sets > 0 &&
	    sched_setaffinity(0, sizeof(cpu_set_t),
		&g->cfg->cpu_sets[slot % g->cfg->n_cpu_sets]) == -1)
		log_warn("cpu_affinity: the worker of slot %u stays unpinned",
		    slot);

	/*
	 * Slots j, j + n, j + 2n ...: see master/listen.c. The addresses
	 * are those of G's config: during a reload M.listeners holds the
	 * next one's too. The worker keeps its siblings' sockets as well,
	 * to accept on them while a sibling's slot is vacant (see adopt()
	 * in worker/worker.c).
	 */
	for (size_t i = 0; i < M.n_listeners; i++)
		if (cfg_listens_on(g->cfg, &M.listeners[i]))
			cap += M.listeners[i].n_fds;
	if ((fds = calloc(cap ? cap : 1, sizeof(*fds))) == NULL ||
	    (owners = calloc(cap ? cap : 1, sizeof(*owners))) == NULL)
		_exit(LB_EXIT_FATAL);
	for (size_t i = 0; i < M.n_listeners; i++) {
		struct lb_listener *l = &M.listeners[i];

		if (!cfg_listens_on(g->cfg, l)) {
			for (size_t s = 0; s < l->n_fds; s++)
				close(l->fds[s]);
			continue;
		}
		for (size_t s = 0; s < l->n_fds; s++) {
			owners[n] = l->reuseport ? (unsigned)(s % workers) :
						   slot;
			fds[n++] = l->fds[s];
		}
	}
	/* While a reload moves the admin listener, one is the other's. */
	if (M.admin_moved) {
		struct lb_listener *other = admin == &M.admin ? &M.admin_prev :
								&M.admin;

		if (other->n_fds > 0)
			close(other->fds[0]);
	}

	if (lb_drop_privileges(g->cfg->user, g->cfg->group, err, sizeof(err)) ==
	    -1) {
		log_error("%s", err);
		_exit(LB_EXIT_FATAL);
	}
	args.cfg = g->cfg;
	args.shm = g->shm;
	args.fds = fds;
	args.owners = owners;
	args.n_fds = n;
	args.admin_fd = admin->n_fds > 0 ? admin->fds[0] : -1;
	args.ctl_fd = ctl;
	args.slot = slot;
	args.generation = g->id;
	_exit(lb_worker_main(&args));
}

/* "worker 3" or "health checker", for the log. */
static const char *
child_name(const struct child *c)
{
	static char buf[32];

	if (c->checker)
		return "health checker";
	lb_snprintf(buf, sizeof(buf), "worker %u", c->slot);
	return buf;
}

/* The shared workers gauge (lbmaster_workers): G's live workers. */
static void
gen_gauge(struct gen *g)
{
	uint32_t n = 0;

	for (size_t i = 0; i < M.n_children; i++)
		if (M.children[i].gen == g && M.children[i].pid != 0 &&
		    !M.children[i].checker)
			n++;
	atomic_store(&g->shm->workers, n);
}

static int
child_spawn(struct child *c)
{
	int   sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for %s", child_name(c));
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork %s", child_name(c));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(c->gen, c->slot, c->checker, sv[1]);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->ctl = sv[0];
	c->ready = false;
	c->quitting = false;
	c->started = lb_now_ms();
	c->respawn_at = 0;
	c->gen->children++;
	gen_gauge(c->gen);
	log_info("generation %u: %s started (pid %ld)", c->gen->id,
	    child_name(c), (long)pid);
	return 0;
}

static struct child *
child_add(struct gen *g, unsigned slot, bool checker)
{
	struct child *arr, *c;

	arr = reallocarray(M.children, M.n_children + 1, sizeof(*arr));
	if (arr == NULL)
		return NULL;
	M.children = arr;
	c = &M.children[M.n_children++];
	memset(c, 0, sizeof(*c));
	c->ctl = -1;
	c->gen = g;
	c->slot = slot;
	c->checker = checker;
	return c;
}

static void
child_send(struct child *c, char cmd)
{
	if (c->pid == 0 || c->ctl == -1)
		return;
	if (write(c->ctl, &cmd, 1) == -1 && errno != EAGAIN)
		log_debug("control to worker %u (pid %ld): %s", c->slot,
		    (long)c->pid, strerror(errno));
}

static void
gen_send(struct gen *g, char cmd)
{
	for (size_t i = 0; i < M.n_children; i++)
		if (M.children[i].gen == g) {
			if (cmd == LB_CTL_QUIT || cmd == LB_CTL_TERM) {
				/*
				 * A slot waiting to be respawned must not
				 * outlive G: once G's last process exits,
				 * G is freed.
				 */
				M.children[i].quitting = true;
				M.children[i].respawn_at = 0;
			}
			child_send(&M.children[i], cmd);
		}
	children_compact();
}

/* Start every worker of G; 0, or -1 if not one could be forked. */
static int
gen_start(struct gen *g)
{
	unsigned started = 0;

	for (unsigned s = 0; s < g->cfg->workers; s++) {
		struct child *c = child_add(g, s, false);

		if (c == NULL) {
			log_warn("worker %u", s);
			continue;
		}
		if (child_spawn(c) == 0)
			started++;
		else
			c->respawn_at = lb_now_ms() + 100;
	}
	if (started > 0 && lb_checker_needed(g->cfg)) {
		struct child *c = child_add(g, 0, true);

		if (c == NULL)
			log_warn("health checker");
		else if (child_spawn(c) == -1)
			c->respawn_at = lb_now_ms() + 100;
	}
	return started > 0 ? 0 : -1;
}

static bool
gen_ready(const struct gen *g)
{
	unsigned ready = 0;

	for (size_t i = 0; i < M.n_children; i++)
		if (M.children[i].gen == g && M.children[i].ready &&
		    !M.children[i].checker)
			ready++;
	return ready == g->cfg->workers;
}

/* Forget children that are gone for good (not waiting for a respawn). */
static void
children_compact(void)
{
	size_t j = 0;

	for (size_t i = 0; i < M.n_children; i++) {
		struct child *c = &M.children[i];

		if (c->pid == 0 && c->respawn_at == 0)
			continue;
		M.children[j++] = *c;
	}
	M.n_children = j;
}

/*
 * Worker C's slot is VACANT (it died) or served again (its replacement
 * accepts): tell the other workers of its generation, which accept on a
 * vacant slot's listening sockets meanwhile (worker/worker.c, adopt).
 */
static void
slot_vacant(struct child *c, bool vacant)
{
	struct lb_shm *shm = c->gen->shm;

	if (c->slot >= shm->n_slots ||
	    atomic_exchange(&shm->vacant[c->slot], vacant ? 1 : 0) ==
		(vacant ? 1u : 0u))
		return;
	for (size_t i = 0; i < M.n_children; i++) {
		struct child *o = &M.children[i];

		if (o != c && o->gen == c->gen && !o->checker)
			child_send(o, LB_CTL_SLOTS);
	}
}

static void
child_exited(struct child *c, int status)
{
	struct gen *g = c->gen;
	int64_t	    now = lb_now_ms(), lived = now - c->started;
	bool	    expected = c->quitting || g->retired || M.stopping;

	if (WIFSIGNALED(status))
		log_warnx("generation %u: %s (pid %ld) killed by signal "
			  "%d%s",
		    g->id, child_name(c), (long)c->pid, WTERMSIG(status),
		    expected ? "" : ": replacing it");
	else if (WEXITSTATUS(status) != 0 || !expected)
		log_warnx("generation %u: %s (pid %ld) exited with "
			  "status %d%s",
		    g->id, child_name(c), (long)c->pid, WEXITSTATUS(status),
		    expected ? "" : ": replacing it");
	else
		log_info("generation %u: %s (pid %ld) exited", g->id,
		    child_name(c), (long)c->pid);

	if (c->ctl != -1)
		close(c->ctl);
	c->ctl = -1;
	c->pid = 0;
	c->ready = false;
	g->children--;
	gen_gauge(g);
	/*
	 * What it had in flight is over: a worker that was killed never
	 * counted it down (common/shm.h). The checker's slot number is not
	 * a worker's share.
	 */
	if (!c->checker)
		lb_shm_slot_clear(g->shm, c->slot);
	if (expected) {
		c->respawn_at = 0;
		return;
	}
	if (!c->checker)
		slot_vacant(c, true);
	/*
	 * It says its config cannot run (a log it cannot open...): for a
	 * generation that never served, respawning will not help. A reload
	 * is abandoned; a first generation stops the master.
	 */
	if (WIFEXITED(status) && WEXITSTATUS(status) == LB_EXIT_FATAL &&
	    (g == M.next || (g == M.cur && !M.announced))) {
		log_error("generation %u: %s cannot start: %s", g->id,
		    child_name(c),
		    g == M.next ? "abandoning the reload" : "stopping");
		c->respawn_at = 0;
		if (g == M.next) {
			M.next_failed = true;
			M.next_deadline = now;
		} else {
			M.exit_code = 1;
		}
		return;
	}
	/*
	 * Replace it at once, unless it keeps dying right after start (or
	 * said it cannot start): then back off, doubling up to 10 s.
	 */
	if (lived < QUICK_DEATH_MS ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == LB_EXIT_FATAL))
		c->quick_deaths++;
	else
		c->quick_deaths = 0;
	if (c->quick_deaths <= 1) {
		c->respawn_at = now;
	} else {
		int64_t delay = 100LL
		    << (c->quick_deaths < 8 ? c->quick_deaths : 8);

		if (delay > BACKOFF_MAX_MS)
			delay = BACKOFF_MAX_MS;
		c->respawn_at = now + delay;
		log_warnx("generation %u: %s keeps dying; next start in "
			  "%lld ms",
		    g->id, child_name(c), (long long)delay);
	}
}

static void
reap(void)
{
	int   status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < M.n_children; i++) {
			if (M.children[i].pid == pid) {
				struct gen *g = M.children[i].gen;

				child_exited(&M.children[i], status);
				gen_release(g);
				break;
			}
		}
	}
	children_compact();
}

static void
respawn_due(int64_t now)
{
	for (size_t i = 0; i < M.n_children; i++) {
		struct child *c = &M.children[i];

		if (c->pid != 0 || c->respawn_at == 0 || c->respawn_at > now)
			continue;
		if (M.stopping || c->gen->retired) {
			c->respawn_at = 0;
			continue;
		}
		if (child_spawn(c) == -1)
			c->respawn_at = now + 1000;
	}
	children_compact();
}

/* Read what the workers said on their control sockets. */
static void
ctl_read(struct child *c)
{
	char	buf[16];
	ssize_t n;

	while ((n = read(c->ctl, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == LB_CTL_READY) {
				c->ready = true;
				if (!c->checker)
					slot_vacant(c, false);
			}
	if (n == 0) {
		/* Exiting; SIGCHLD tells the rest. */
		close(c->ctl);
		c->ctl = -1;
	}
}

/* ------------------------------------------------------------- logs */

/* Does the config name a user or group, and exist? -1 with err if not. */
static int
user_check(const struct lb_cfg *cfg, char *err, size_t errlen)
{
	return lb_user_check(cfg, err, errlen);
}

/*
 * Workers open the access log, and reopen both logs on SIGUSR1, as the
 * config's user, in a directory they cannot create files in. So the
 * master creates the files first and lets the workers' group write them:
 * root keeps owning them, and keeps writing the error log without
 * CAP_DAC_OVERRIDE. (Changing the group takes CAP_CHOWN.)
 */
static void
logs_prepare(const struct lb_cfg *cfg)
{
	const char *files[] = { cfg->error_log, cfg->access_log };
	char	    err[LB_ERRLEN];
	struct stat st;
	uid_t	    uid;
	gid_t	    gid;
	int	    fd;

	if ((cfg->user == NULL && cfg->group == NULL) || geteuid() != 0 ||
	    lb_user_lookup(cfg->user, cfg->group, &uid, &gid, err,
		sizeof(err)) == -1)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *f = files[i];

		if (f == NULL || strcmp(f, "stderr") == 0 ||
		    strcmp(f, "syslog") == 0 || strcmp(f, "off") == 0)
			continue;
		fd = open(f, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1 || fstat(fd, &st) == -1) {
			log_warn("%s", f);
			if (fd != -1)
				close(fd);
			continue;
		}
		if ((st.st_gid != gid && fchown(fd, (uid_t)-1, gid) == -1) ||
		    ((st.st_mode & 0060) != 0060 &&
			fchmod(fd, (st.st_mode & 07777) | 0060) == -1))
			log_warn("%s: letting group %ld write it", f,
			    (long)gid);
		close(fd);
	}
}

/* ---------------------------------------------------------- actions */

/*
 * The outcome of a reload, for lbmaster -s reload, which waits for it:
 * one line beside the pid file (PID_FILE.reload), "PID SEQ ok" or "PID
 * SEQ failed MESSAGE", SEQ counting reloads done, written whole and
 * renamed into place (see HACKING.md, "-s reload").
 */
static void
reload_outcome(const char *failure)
{
	char  *path = NULL, *tmp = NULL;
	FILE  *fp;
	pid_t  pid = getpid();
	size_t seq = (size_t)(M.reloads_ok + M.reloads_failed);

	if (M.pid_file == NULL)
		return;
	if (asprintf(&path, "%s" LB_RELOAD_SUFFIX, M.pid_file) == -1) {
		path = NULL;
		goto fail;
	}
	if (asprintf(&tmp, "%s.tmp", path) == -1) {
		tmp = NULL;
		goto fail;
	}
	if ((fp = fopen(tmp, "w")) == NULL)
		goto fail;
	if (failure != NULL)
		fprintf(fp, "%ld %zu failed %s\n", (long)pid, seq, failure);
	else
		fprintf(fp, "%ld %zu ok\n", (long)pid, seq);
	if (fclose(fp) == EOF || rename(tmp, path) == -1)
		goto fail;
	free(path);
	free(tmp);
	return;
fail:
	log_warn("reload outcome %s", path != NULL ? path : M.pid_file);
	if (tmp != NULL)
		unlink(tmp);
	free(path);
	free(tmp);
}

static void
reload(void)
{
	struct lb_cfg *cfg;
	struct gen    *g;
	char	       err[LB_ERRLEN], why[LB_ERRLEN + 64];

	if (M.next != NULL) {
		/* The file may have changed since: read it once more then. */
		log_notice("reload: generation %u is still starting; reloading "
			   "again once it is done",
		    M.next->id);
		M.reload_pending = true;
		return;
	}
	lb_sd_reloading();
	log_notice("reloading %s", M.cur->cfg->file);
	if (lb_master_load(M.cur->cfg->file, &cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		log_error("reload failed: still serving generation %u",
		    M.cur->id);
		lb_snprintf(why, sizeof(why), "%s", err);
		goto failed;
	}
	if (user_check(cfg, err, sizeof(err)) == -1 ||
	    listeners_apply(cfg, err, sizeof(err)) == -1 ||
	    admin_apply(cfg, err, sizeof(err)) == -1) {
		log_error("reload failed: %s; still serving generation %u", err,
		    M.cur->id);
		lb_snprintf(why, sizeof(why), "%s", err);
		lb_cfg_free(cfg);
		goto failed;
	}
	if (strcmp(cfg->error_log, M.cur->cfg->error_log) != 0 ||
	    cfg->log_level != M.cur->cfg->log_level) {
		if (log_open(cfg->error_log, cfg->log_level) == -1)
			log_warn("error_log %s: keeping the old log",
			    cfg->error_log);
	}
	logs_prepare(cfg);
	if ((g = gen_new(cfg)) == NULL) {
		log_warn("reload: new generation");
		lb_snprintf(why, sizeof(why), "new generation: %s",
		    strerror(errno));
		lb_cfg_free(cfg);
		goto failed;
	}
	M.next = g;
	M.next_deadline = lb_now_ms() + READY_TIMEOUT_MS;
	M.next_failed = false;
	if (gen_start(g) == -1) {
		log_error("reload failed: no worker of generation %u started",
		    g->id);
		lb_snprintf(why, sizeof(why),
		    "no worker of generation %u started", g->id);
		g->retired = true;
		gen_send(g, LB_CTL_TERM);
		M.next = NULL;
		gen_release(g);
		goto failed;
	}
	return;
failed:
	M.reloads_failed++;
	lb_shm_set_reloads(M.cur->shm, M.reloads_ok, M.reloads_failed);
	listeners_restore(M.cur->cfg);
	reload_outcome(why);
	lb_sd_notify("READY=1");
}

/* One notice line of what a reload changed. */
static void
diff_line(const char *line, void *arg)
{
	(void)arg;
	log_notice("reload: %s", line);
}

/* The new generation accepts: retire the old one. */
static void
reload_commit(void)
{
	struct gen *old = M.cur;

	M.cur = M.next;
	M.next = NULL;
	old->retired = true;
	gen_send(old, LB_CTL_QUIT);
	listeners_prune();
	M.reloads_ok++;
	lb_shm_set_reloads(M.cur->shm, M.reloads_ok, M.reloads_failed);
	log_notice("generation %u serves; generation %u drains", M.cur->id,
	    old->id);
	if (lb_cfg_diff(old->cfg, M.cur->cfg, diff_line, NULL) == -1)
		log_warn("reload: comparing the configurations");
	gen_release(old);
	reload_outcome(NULL);
	lb_sd_notify("READY=1");
}

/* The new generation did not come up in time: keep the old one. */
static void
reload_abort(void)
{
	struct gen *g = M.next;
	unsigned    g_id = g->id;
	char	    err[64];

	log_error("reload failed: generation %u did not start; still "
		  "serving generation %u",
	    g->id, M.cur->id);
	g->retired = true;
	gen_send(g, LB_CTL_TERM);
	M.next = NULL;
	gen_release(g);
	M.reloads_failed++;
	lb_shm_set_reloads(M.cur->shm, M.reloads_ok, M.reloads_failed);
	listeners_restore(M.cur->cfg);
	lb_snprintf(err, sizeof(err), "generation %u did not start", g_id);
	reload_outcome(err);
	lb_sd_notify("READY=1");
}

static void
stop(bool graceful)
{
	int64_t grace;

	if (M.stopping && graceful)
		return;
	log_notice("%s shutdown", graceful ? "graceful" : "fast");
	lb_sd_notify("STOPPING=1");
	M.stopping = true;
	grace = graceful ? (int64_t)M.cur->cfg->shutdown_timeout_ms + 1000 :
			   FAST_STOP_MS;
	if (M.stop_deadline == 0 || lb_now_ms() + grace < M.stop_deadline)
		M.stop_deadline = lb_now_ms() + grace;
	/*
	 * The workers stop accepting now: with our copies of the sockets
	 * closed too, new clients are refused at once instead of waiting in
	 * a queue nobody will serve.
	 */
	for (size_t i = 0; i < M.n_listeners; i++)
		lb_listener_close(&M.listeners[i]);
	M.n_listeners = 0;
	lb_listener_close(&M.admin);
	lb_listener_close(&M.admin_prev);
	for (size_t i = 0; i < M.n_children; i++) {
		M.children[i].quitting = true;
		M.children[i].respawn_at = 0;
		child_send(&M.children[i],
		    graceful ? LB_CTL_QUIT : LB_CTL_TERM);
	}
}

static size_t
live_children(void)
{
	size_t n = 0;

	for (size_t i = 0; i < M.n_children; i++)
		if (M.children[i].pid != 0)
			n++;
	return n;
}

/* ------------------------------------------------------------- loop */

/*
 * Once the first generation accepts, tell systemd, and the process that
 * waits for a daemon (lb_daemonize). That one hears from us after
 * READY_TIMEOUT_MS in any case: it must not hang on a worker that never
 * says it accepts.
 */
static void
announce(int64_t now)
{
	if (!M.announced && gen_ready(M.cur)) {
		M.announced = true;
		log_notice("generation %u serves", M.cur->id);
		lb_sd_notify("READY=1");
	} else if (M.ready_fd == -1 || now < M.ready_deadline) {
		return;
	} else {
		log_warnx("not every worker accepts after %d s; still trying",
		    READY_TIMEOUT_MS / 1000);
	}
	lb_daemon_ready(M.ready_fd,
	    strcmp(M.cur->cfg->error_log, "stderr") == 0);
	M.ready_fd = -1;
}

static void
loop(void)
{
	struct pollfd *pfd = NULL;
	size_t	       cap = 0;

	for (;;) {
		int64_t now, timeout = -1;
		size_t	n = 0;

		if (sig_chld) {
			sig_chld = 0;
			reap();
		}
		if (sig_term) {
			sig_term = 0;
			stop(false);
		}
		if (sig_quit) {
			sig_quit = 0;
			stop(true);
		}
		if (sig_hup) {
			sig_hup = 0;
			if (!M.stopping)
				reload();
		}
		if (M.exit_code != 0 && !M.stopping)
			stop(false);
		if (sig_usr1) {
			sig_usr1 = 0;
			if (log_reopen() == -1)
				log_warn("reopening the error log");
			log_notice("reopening log files");
			logs_prepare(M.cur->cfg);
			for (size_t i = 0; i < M.n_children; i++)
				child_send(&M.children[i], LB_CTL_REOPEN);
		}

		now = lb_now_ms();
		if (M.stopping) {
			if (live_children() == 0)
				break;
			if (now >= M.stop_deadline) {
				log_warnx("killing %zu workers that did not "
					  "exit in time",
				    live_children());
				for (size_t i = 0; i < M.n_children; i++)
					if (M.children[i].pid != 0)
						kill(M.children[i].pid,
						    SIGKILL);
				M.stop_deadline = now + 1000;
			}
			timeout = M.stop_deadline - now;
		} else {
			respawn_due(now);
			announce(now);
			if (M.next != NULL && gen_ready(M.next)) {
				reload_commit();
			} else if (M.next != NULL && now >= M.next_deadline) {
				if (!M.next_failed)
					log_error("generation %u: not every "
						  "worker accepts after %d s",
					    M.next->id,
					    READY_TIMEOUT_MS / 1000);
				reload_abort();
			}
			if (M.next == NULL && M.reload_pending) {
				M.reload_pending = false;
				reload();
			}
			if (M.next != NULL)
				timeout = M.next_deadline - now;
			if (M.ready_fd != -1 &&
			    (timeout == -1 || M.ready_deadline - now < timeout))
				timeout = M.ready_deadline > now ?
				    M.ready_deadline - now :
				    0;
			for (size_t i = 0; i < M.n_children; i++) {
				int64_t at = M.children[i].respawn_at;

				if (M.children[i].pid == 0 && at != 0 &&
				    (timeout == -1 || at - now < timeout))
					timeout = at > now ? at - now : 0;
			}
		}

		if (cap < M.n_children + 1) {
			struct pollfd *p;

			p = reallocarray(pfd, M.n_children + 1, sizeof(*p));
			if (p == NULL) {
				log_warn("poll set");
				timeout = 100;
			} else {
				pfd = p;
				cap = M.n_children + 1;
			}
		}
		if (cap > 0) {
			pfd[n].fd = M.selfpipe[0];
			pfd[n++].events = POLLIN;
			for (size_t i = 0; i < M.n_children && n < cap; i++) {
				pfd[n].fd = M.children[i].ctl;
				pfd[n++].events = POLLIN;
			}
		}
		if (poll(pfd, n,
			timeout > INT32_MAX ? INT32_MAX : (int)timeout) == -1) {
			if (errno != EINTR)
				log_warn("poll");
			continue;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			char buf[64];

			while (read(M.selfpipe[0], buf, sizeof(buf)) > 0)
				;
		}
		for (size_t i = 1; i < n; i++)
			if (pfd[i].fd != -1 &&
			    (pfd[i].revents & (POLLIN | POLLHUP)))
				for (size_t k = 0; k < M.n_children; k++)
					if (M.children[k].ctl == pfd[i].fd)
						ctl_read(&M.children[k]);
	}
	free(pfd);
}

int
lb_master_load(const char *file, struct lb_cfg **out, char *err, size_t errlen)
{
	if (lb_cfg_load(file, out, err, errlen) == -1)
		return -1;
	/*
	 * Every certificate and key is read now, for -t, start-up and a
	 * reload alike: a bad one is the config's error, and the workers
	 * inherit contexts that are known good.
	 */
	if (lb_tls_build(*out, err, errlen) == -1) {
		lb_cfg_free(*out);
		*out = NULL;
		return -1;
	}
	/* A test that fails is the config's error: refused like any. */
	if (lb_explain_tests(*out, err, errlen) == -1) {
		lb_cfg_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* A start-up error: the log gets it, and so does the terminal. */
static void
startup_error(const struct lb_cfg *cfg, const char *err)
{
	log_error("%s", err);
	if (strcmp(cfg->error_log, "stderr") != 0)
		fprintf(stderr, "lbmaster: %s\n", err);
}

int
lb_master_run(struct lb_cfg *cfg, bool foreground)
{
	char err[LB_ERRLEN];
	int  rc = 1;

	M.foreground = foreground;
	log_procname("master");
	if (log_open(cfg->error_log, cfg->log_level) == -1) {
		fprintf(stderr, "lbmaster: error_log %s: %s\n", cfg->error_log,
		    strerror(errno));
		lb_cfg_free(cfg);
		return 1;
	}
	if (pipe2(M.selfpipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	/*
	 * Signals become flags before the port accepts: whoever sees it
	 * accept may signal us at once.
	 */
	signals_install();
	/* The clearest cause first: another master, a missing user. */
	if ((cfg->pid_file != NULL &&
		lb_pidfile_check(cfg->pid_file, err, sizeof(err)) == -1) ||
	    user_check(cfg, err, sizeof(err)) == -1)
		goto fail;
	/* Bind while stderr still reaches whoever started us. */
	if (listeners_apply(cfg, err, sizeof(err)) == -1 ||
	    admin_apply(cfg, err, sizeof(err)) == -1)
		goto fail;
	if (!foreground && lb_daemonize(&M.ready_fd, err, sizeof(err)) == -1)
		goto fail;
	if (cfg->pid_file != NULL) {
		if ((M.pid_file = strdup(cfg->pid_file)) == NULL) {
			lb_snprintf(err, sizeof(err), "%s", strerror(errno));
			goto fail;
		}
		if (lb_pidfile_write(cfg->pid_file, err, sizeof(err)) == -1) {
			free(M.pid_file);
			M.pid_file = NULL;
			goto fail;
		}
	}
	lb_proctitle_set("lbmaster: master process");
	logs_prepare(cfg);
	if ((M.cur = gen_new(cfg)) == NULL) {
		lb_snprintf(err, sizeof(err), "shared memory: %s",
		    strerror(errno));
		goto fail;
	}
	if (gen_start(M.cur) == -1) {
		lb_snprintf(err, sizeof(err), "no worker could be started");
		goto fail;
	}
	log_notice("lbmaster %s started: %u workers, %zu routes",
	    PACKAGE_VERSION, cfg->workers, cfg->n_routes);
	M.ready_deadline = lb_now_ms() + READY_TIMEOUT_MS;

	loop();

	log_notice("exiting");
	/* A first generation that could not run: child_exited said why. */
	rc = M.exit_code;
	err[0] = '\0';
fail:
	if (rc != 0 && err[0] != '\0')
		startup_error(cfg, err);
	if (M.pid_file != NULL) {
		lb_pidfile_remove(M.pid_file);
		lb_reload_outcome_remove(M.pid_file);
	}
	free(M.pid_file);
	for (size_t i = 0; i < M.n_listeners; i++)
		lb_listener_close(&M.listeners[i]);
	free(M.listeners);
	lb_listener_close(&M.admin);
	lb_listener_close(&M.admin_prev);
	free(M.children);
	if (M.cur != NULL) {
		struct gen *g = M.cur;

		M.cur = NULL;
		g->children = 0;
		gen_release(g);
	} else {
		lb_cfg_free(cfg);
	}
	return rc;
}
