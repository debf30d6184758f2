/*
 * netrelay.c - a user-space TCP relay that plays a bad network, for
 * tests/netcheck.sh (make netcheck). No TLS: it carries the bytes opaquely.
 *
 *   netrelay [options] LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT
 *
 * It listens (port 0: any), says so on stderr
 *     netrelay: listening on ADDR:PORT
 * accepts ONE connection, connects to the target, and relays both ways until
 * both have ended. The kernel's network emulator (sch_netem) is not available
 * where the tests run, so the relay does the damage itself:
 *
 *   --delay=MS      every chunk waits MS ms before it goes on (latency)
 *   --jitter=MS     plus 0..MS ms at random, per piece
 *   --split         chunks are read in random sizes and cut at random points
 *                   (a 1-byte piece now and then: a TLS record header split
 *                   across segments), and written one piece per send or
 *                   many coalesced into one, at random
 *   --hold=PCT:MS   PCT % of the pieces are held MS ms more; all behind them
 *                   wait and then go at once
 *   --rate=BITS     each direction throttled to BITS bits/s (token bucket)
 *   --pause=SECS    length of a pause (default 3): no byte read or written
 *                   either way, as if the link went dead and came back
 *   --pause-after=BYTES  one pause, once BYTES have been read (both ways)
 *   --stall         a pause never ends (for the timeout tests)
 *   --seed=N        the random choices (default: from the clock and pid)
 *   SIGUSR1         a pause now
 *
 * "Reordering within TCP's guarantees": the relay terminates TCP, so it may
 * change the timing and the boundaries of segments, never the order of the
 * bytes. Every piece's release time is at least that of the piece before
 * it, so jitter and holds delay what follows instead of overtaking it.
 *
 * An end is passed on in order, behind the data before it: EOF from one side
 * becomes shutdown(SHUT_WR) towards the other (a half-close); a reset (a read
 * that fails) becomes an abortive close (RST) of the other side, and one side
 * that can no longer be written to gets the other side reset. At exit a
 * stats line: bytes, reads, writes, pieces, held pieces, coalesced writes
 * per direction, pauses, the seed. Exit 0 when both directions ended with
 * EOF, 1 after a reset, 2 usage, 3 listen, accept or connect failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX (4u << 20) /* bytes held per direction before reads stop */
#define READ_MAX  65536u     /* largest read */
#define IOV_N     64         /* pieces in one coalesced write */
#define BURST_MS  20         /* the token bucket holds this long of traffic */

/* one piece of the stream, not to be sent before due_ms */
struct piece {
	struct piece *next;
	long long due_ms;
	size_t len, off;
	unsigned char data[];
};

/* one direction: bytes read from `from`, queued, written to `to` */
struct dir {
	const char *name;
	int from, to;
	struct piece *head, *tail;
	size_t queued;
	long long last_due;	/* the tail's due time: nothing goes out before it */
	int eof, reset, shut;
	long long eof_due;	/* the FIN goes behind the data, delayed as it is */
	double tokens;
	long long refill_ms;
	unsigned long long bytes_in, bytes_out, reads, writes, pieces, held, coalesced;
};

static struct {
	long delay_ms, jitter_ms, hold_pct, hold_ms;
	int split, stall;
	double rate;		/* bytes per second, 0 = unlimited */
	long pause_s;
	long long pause_after;	/* -1: no pause by count */
	uint64_t seed;
} opt = { .pause_s = 3, .pause_after = -1 };

static uint64_t rng;
static long long t_start, pause_end, total_in;
static int paused, pauses;
static volatile sig_atomic_t usr1;

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("netrelay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: reproducible from --seed, unlike rand() across libcs */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/* a number in [0, n] */
static long rnd_upto(long n)
{
	return n > 0 ? (long)(rnd() % (uint64_t)(n + 1)) : 0;
}

static long long number(const char *name, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die(2, "%s: not a number in %lld..%lld: %s", name, min, max, s);
	return v;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void start_pause(const char *why)
{
	paused = 1;
	pauses++;
	pause_end = now_ms() + opt.pause_s * 1000;
	fprintf(stderr, "netrelay: %.3f s: %s %s (%s)\n", (now_ms() - t_start) / 1000.0,
	    opt.stall ? "stall" : "pause", opt.stall ? "for good" : "starts", why);
}

/* ---- the queue of one direction ---- */

static void enqueue_piece(struct dir *d, const unsigned char *buf, size_t len, long long now)
{
	struct piece *p = malloc(sizeof *p + len);
	long long due = now + opt.delay_ms + rnd_upto(opt.jitter_ms);

	if (!p)
		die(1, "out of memory");
	if (opt.hold_pct && rnd_upto(99) < opt.hold_pct) {
		due += opt.hold_ms;
		d->held++;
	}
	/* never before the piece ahead: the order of bytes is TCP's promise */
	if (due < d->last_due)
		due = d->last_due;
	d->last_due = due;
	p->next = NULL;
	p->due_ms = due;
	p->len = len;
	p->off = 0;
	memcpy(p->data, buf, len);
	if (d->tail)
		d->tail->next = p;
	else
		d->head = p;
	d->tail = p;
	d->queued += len;
	d->pieces++;
}

/* a chunk as read: cut into 1..4 pieces with --split, a first piece of one
 * byte now and then (so that a record header straddles two segments) */
static void enqueue(struct dir *d, const unsigned char *buf, size_t len, long long now)
{
	size_t cut;
	long n = opt.split ? 1 + rnd_upto(3) : 1;

	if (opt.split && len > 1 && rnd_upto(7) == 0) {
		enqueue_piece(d, buf, 1, now);
		buf++;
		len--;
	}
	for (; n > 1 && len > 1; n--) {
		cut = 1 + (size_t)rnd_upto((long)len - 2);
		enqueue_piece(d, buf, cut, now);
		buf += cut;
		len -= cut;
	}
	enqueue_piece(d, buf, len, now);
}

static void consume(struct dir *d, size_t n)
{
	struct piece *p;
	size_t take;

	d->bytes_out += n;
	d->queued -= n;
	while (n) {
		p = d->head;
		take = p->len - p->off < n ? p->len - p->off : n;
		p->off += take;
		n -= take;
		if (p->off == p->len) {
			d->head = p->next;
			if (!d->head)
				d->tail = NULL;
			free(p);
		}
	}
}

/* ---- the token bucket (--rate) ---- */

static double burst(void)
{
	double b = opt.rate * BURST_MS / 1000;

	return b < 1500 ? 1500 : b;
}

static void refill(struct dir *d, long long now)
{
	if (!opt.rate)
		return;
	d->tokens += (now - d->refill_ms) * opt.rate / 1000;
	if (d->tokens > burst())
		d->tokens = burst();
	d->refill_ms = now;
}

/* bytes this direction may write now */
static size_t budget(const struct dir *d)
{
	if (!opt.rate)
		return SIZE_MAX;
	return d->tokens < 1 ? 0 : (size_t)d->tokens;
}

/* ms until the head may go: its due time, then enough tokens for a full
 * burst or the whole head (fewer, larger writes than one per token) */
static long long wait_ms(const struct dir *d, long long now)
{
	double want;

	if (!d->head)
		return d->eof && !d->shut && !d->reset ? d->eof_due - now : LLONG_MAX;
	if (d->head->due_ms > now)
		return d->head->due_ms - now;
	if (!opt.rate)
		return 0;
	want = (double)(d->head->len - d->head->off);
	if (want > burst())
		want = burst();
	if (d->tokens >= want)
		return 0;
	return (long long)((want - d->tokens) * 1000 / opt.rate) + 1;
}

/* ---- moving bytes ---- */

/* read one chunk; 0, or -1 when the side has reset */
static int do_read(struct dir *d, long long now)
{
	static unsigned char buf[READ_MAX];
	size_t want = opt.split ? 1 + (size_t)rnd_upto(READ_MAX - 1) : READ_MAX;
	ssize_t n = read(d->from, buf, want);

	if (n > 0) {
		d->reads++;
		d->bytes_in += (unsigned long long)n;
		total_in += n;
		enqueue(d, buf, (size_t)n, now);
		if (opt.pause_after >= 0 && !pauses && total_in >= opt.pause_after)
			start_pause("byte count");
		return 0;
	}
	if (n == 0) {
		d->eof = 1;
		d->eof_due = d->last_due > now + opt.delay_ms ? d->last_due : now + opt.delay_ms;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	fprintf(stderr, "netrelay: %s: read: %s\n", d->name, strerror(errno));
	d->reset = 1;
	return -1;
}

/* write what is due and paid for: the head piece alone, or (coalesced) as
 * many due pieces as one writev takes; -1 when the receiving side is gone */
static int write_some(struct dir *d, long long now)
{
	struct iovec iov[IOV_N];
	struct piece *p;
	size_t left = budget(d), len;
	/* --split: the head alone half the time, else up to a random count */
	long most = !opt.split ? IOV_N : rnd_upto(1) ? 1 : 1 + rnd_upto(IOV_N - 1);
	int n = 0;
	ssize_t w;

	for (p = d->head; p && p->due_ms <= now && left && n < most; p = p->next) {
		len = p->len - p->off < left ? p->len - p->off : left;
		iov[n].iov_base = p->data + p->off;
		iov[n].iov_len = len;
		left -= len;
		n++;
	}
	if (!n)
		return 0;
	w = writev(d->to, iov, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		fprintf(stderr, "netrelay: %s: write: %s\n", d->name, strerror(errno));
		return -1;
	}
	d->writes++;
	if (n > 1)
		d->coalesced++;
	if (opt.rate)
		d->tokens -= (double)w;
	consume(d, (size_t)w);
	return w > 0;
}

/* write until nothing is due, the budget is spent or the socket is full */
static int do_write(struct dir *d, long long now)
{
	int r, i;

	refill(d, now);
	for (i = 0; i < 256; i++) {
		r = write_some(d, now);
		if (r <= 0)
			return r;
	}
	return 0;
}

/* the FIN, once all before it is out and its time has come */
static void pass_eof(struct dir *d, long long now)
{
	if (d->eof && !d->head && !d->shut && !d->reset && now >= d->eof_due) {
		shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
}

/* an abortive close: the peer sees a reset, not a FIN */
static void abort_fd(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

/* ---- setup ---- */

static struct addrinfo *resolve(const char *host, const char *port, int passive)
{
	struct addrinfo hints = { 0 }, *ai;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		die(2, "%s %s: %s", host, port, gai_strerror(rc));
	return ai;
}

static void say_listening(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
		NI_NUMERICHOST | NI_NUMERICSERV))
		die(3, "getsockname: %s", strerror(errno));
	fprintf(stderr, "netrelay: listening on %s%s%s:%s\n", ss.ss_family == AF_INET6 ? "[" : "",
	    host, ss.ss_family == AF_INET6 ? "]" : "", serv);
}

static int listen_on(const char *host, const char *port)
{
	struct addrinfo *ai = resolve(host, port, 1);
	int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1))
		die(3, "listen on %s %s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	say_listening(fd);
	return fd;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo *ai = resolve(host, port, 0);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "netrelay: connect to %s %s: %s\n", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* no Nagle: each write is its own segment, so --split shows on the wire;
 * non-blocking: one side's full socket must not stop the other direction */
static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		die(3, "fcntl: %s", strerror(errno));
}

/* --hold=PCT:MS, parsed without writing into argv (ps shows it as given) */
static void hold(const char *arg)
{
	char pct[16];
	const char *colon = strchr(arg, ':');

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof pct)
		die(2, "--hold: PCT:MS, not %s", arg);
	memcpy(pct, arg, (size_t)(colon - arg));
	pct[colon - arg] = '\0';
	opt.hold_pct = (long)number("--hold", pct, 0, 100);
	opt.hold_ms = (long)number("--hold", colon + 1, 0, 60000);
}

static void usage(void)
{
	fputs("usage: netrelay [--delay=MS] [--jitter=MS] [--split] [--hold=PCT:MS] [--rate=BITS]\n"
	      "                [--pause=SECS] [--pause-after=BYTES] [--stall] [--seed=N]\n"
	      "                LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT\n", stderr);
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "delay", required_argument, NULL, 'd' }, { "jitter", required_argument, NULL, 'j' },
		{ "split", no_argument, NULL, 'x' }, { "hold", required_argument, NULL, 'h' },
		{ "rate", required_argument, NULL, 'r' }, { "pause", required_argument, NULL, 'p' },
		{ "pause-after", required_argument, NULL, 'a' }, { "stall", no_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 }
	};
	int c;

	opt.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd': opt.delay_ms = (long)number("--delay", optarg, 0, 60000); break;
		case 'j': opt.jitter_ms = (long)number("--jitter", optarg, 0, 60000); break;
		case 'x': opt.split = 1; break;
		case 'h': hold(optarg); break;
		case 'r': opt.rate = (double)number("--rate", optarg, 8000, 100000000000LL) / 8; break;
		case 'p': opt.pause_s = (long)number("--pause", optarg, 0, 86400); break;
		case 'a': opt.pause_after = number("--pause-after", optarg, 0, LLONG_MAX); break;
		case 's': opt.stall = 1; break;
		case 'S': opt.seed = (uint64_t)number("--seed", optarg, 0, LLONG_MAX); break;
		default: usage();
		}
	}
	if (argc - optind != 4)
		usage();
	rng = opt.seed ? opt.seed : 1;	/* xorshift stays at 0 from 0 */
}

/* SIGUSR1 is blocked but in ppoll, so a pause asked for between two polls
 * is not lost until the next timeout */
static void signals(sigset_t *in_poll)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a gone peer is EPIPE, handled */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, in_poll);
	sigdelset(in_poll, SIGUSR1);
}

static void stats(const struct dir *d)
{
	fprintf(stderr, "netrelay: %s %llu bytes in, %llu out, %llu reads, %llu writes, %llu pieces, "
	    "%llu held, %llu coalesced writes%s%s\n", d->name, d->bytes_in, d->bytes_out, d->reads,
	    d->writes, d->pieces, d->held, d->coalesced, d->shut ? ", FIN passed on" : "",
	    d->reset ? ", reset" : "");
}

static void finish(struct dir *dirs, int code)
{
	stats(&dirs[0]);
	stats(&dirs[1]);
	fprintf(stderr, "netrelay: %d pause%s, seed %llu, %.3f s\n", pauses, pauses == 1 ? "" : "s",
	    (unsigned long long)opt.seed, (now_ms() - t_start) / 1000.0);
	exit(code);
}

/* a reset read from one side goes on to the other once the data before it
 * has; a side that cannot be written to any more resets the other at once */
static void reset_both(struct dir *dirs, const char *why)
{
	fprintf(stderr, "netrelay: %s: both sides reset\n", why);
	abort_fd(dirs[0].from);
	abort_fd(dirs[1].from);
	finish(dirs, 1);
}

/* the poll timeout: the nearest due piece, refill, FIN or pause end */
static int poll_ms(struct dir *dirs, long long now)
{
	long long t = LLONG_MAX, w;
	int i;

	if (paused)
		return opt.stall ? -1 : (int)(pause_end > now ? pause_end - now : 0);
	for (i = 0; i < 2; i++) {
		w = wait_ms(&dirs[i], now);
		if (w > 0 && w < t)
			t = w;
	}
	return t == LLONG_MAX ? -1 : (int)(t > 60000 ? 60000 : t);
}

/* what each socket waits for: fds[i] is dirs[i].from and dirs[1-i].to. A
 * socket nothing is wanted of is left out (fd -1): its reset or hang-up
 * would wake every poll until the data ahead of it has gone. */
static void interest(struct dir *dirs, struct pollfd *fds, long long now)
{
	int i;
	struct dir *d;

	for (i = 0; i < 2; i++) {
		fds[i].events = 0;
		fds[i].revents = 0;
	}
	for (i = 0; i < 2 && !paused; i++) {
		d = &dirs[i];
		if (!d->eof && !d->reset && d->queued < QUEUE_MAX)
			fds[i].events |= POLLIN;
		refill(d, now);
		if (d->head && wait_ms(d, now) == 0)
			fds[1 - i].events |= POLLOUT;
	}
	for (i = 0; i < 2; i++)
		fds[i].fd = fds[i].events ? dirs[i].from : -1;
}

/* ends that are due: a reset once the data ahead of it has gone, a FIN */
static void pass_ends(struct dir *dirs, long long now)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (dirs[i].reset && !dirs[i].head)
			reset_both(dirs, dirs[i].name);
		pass_eof(&dirs[i], now);
	}
}

/* after a poll: reads first (a pause may start on the count), then writes */
static void move(struct dir *dirs, const struct pollfd *fds)
{
	long long now = now_ms();
	int i;

	for (i = 0; i < 2 && !paused; i++)
		if (fds[i].events & POLLIN && fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			do_read(&dirs[i], now);
	for (i = 0; i < 2 && !paused; i++)
		if (fds[1 - i].events & POLLOUT && fds[1 - i].revents & (POLLOUT | POLLHUP | POLLERR) &&
		    do_write(&dirs[i], now) < 0)
			reset_both(dirs, dirs[i].name);
}

static void relay(int client, int server, const sigset_t *in_poll)
{
	struct dir dirs[2] = {
		{ .name = "up", .from = client, .to = server },
		{ .name = "down", .from = server, .to = client },
	};
	struct pollfd fds[2];
	struct timespec ts;
	long long now;
	int ms;

	dirs[0].refill_ms = dirs[1].refill_ms = now_ms();
	dirs[0].tokens = dirs[1].tokens = burst();
	if (opt.pause_after == 0)
		start_pause("at the start");
	for (;;) {
		now = now_ms();
		if (paused && !opt.stall && now >= pause_end) {
			paused = 0;
			fprintf(stderr, "netrelay: %.3f s: pause over\n", (now - t_start) / 1000.0);
		}
		if (!paused)
			pass_ends(dirs, now);
		if (dirs[0].shut && dirs[1].shut)
			break;
		interest(dirs, fds, now);
		ms = poll_ms(dirs, now);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		if (ppoll(fds, 2, ms < 0 ? NULL : &ts, in_poll) < 0 && errno != EINTR)
			die(1, "poll: %s", strerror(errno));
		if (usr1) {
			usr1 = 0;
			start_pause("SIGUSR1");
		}
		move(dirs, fds);
	}
	close(client);
	close(server);
	finish(dirs, 0);
}

int main(int argc, char **argv)
{
	sigset_t in_poll;
	int lfd, client, server;

	parse(argc, argv);
	signals(&in_poll);
	t_start = now_ms();
	lfd = listen_on(argv[optind], argv[optind + 1]);
	client = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0)
		die(3, "accept: %s", strerror(errno));
	close(lfd);
	t_start = now_ms();
	server = connect_to(argv[optind + 2], argv[optind + 3]);
	if (server < 0) {
		/* what a refused connection looks like from behind a proxy */
		abort_fd(client);
		return 3;
	}
	tune(client);
	tune(server);
	relay(client, server, &in_poll);
	return 0;
}
