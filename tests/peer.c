/*
 * peer.c - a real TLS endpoint (server role) for tlspipe's Bats tests.
 *
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -O2 tests/peer.c -o tests/peer \
 *      $(pkg-config --cflags --libs libssl libcrypto)
 *
 * It listens on 127.0.0.1 (or --addr), port 0 (or --port), says so on stderr
 *     peer: listening on 127.0.0.1:PORT        ([::1]:PORT for IPv6)
 * accepts ONE connection, serves it in --mode, prints one stats line on stdout
 * and exits: 0 ok (a sink that saw truncation too), 1 error, 2 usage,
 * 3 handshake failed. Run with --help for the options.
 *
 * I/O: the socket is non-blocking and driven by select(). OpenSSL reads the
 * socket through a socket BIO, but writes into a memory BIO that we copy to
 * the socket ourselves. So SSL_write never returns WANT_WRITE, and handshake
 * records written from inside SSL_read (renegotiation, alerts) can never clash
 * with a half-sent application record ("bad write retry"). Back-pressure:
 * no SSL_write while the memory BIO holds WBIO_MAX bytes or more.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define OBUF_CAP (1u << 20)   /* queued outgoing app data */
#define WBIO_MAX (256u << 10) /* unsent ciphertext that stops SSL_write */
#define CHUNK    16384        /* bytes per SSL_write call */
#define DRAIN_MS 1000         /* how long to wait for the client's FIN at close */
#define CHAT_LEN 100          /* --chatty: bytes sent per N received */

enum { M_SINK, M_ECHO, M_REPLY, M_SEND, M_STALL, M_PLAIN, M_SILENT, M_SPEAK };
static const char *const mode_names[] = {
    "sink", "echo", "reply", "send", "stall", "plain", "silent", "speak-first", NULL };

static struct {
    const char *addr, *cert, *key, *ca, *text, *out;
    int port, mode, tls, verify_client, truncate, allow_reneg, max_secs, tickets;
    long delay_ms, hold_ms;
    unsigned long long bytes, ku_every, reneg_every, chatty;
} opt = { .addr = "127.0.0.1", .delay_ms = 1000, .hold_ms = 3000, .max_secs = 60,
          .tickets = -1 };

static struct {
    int fd;
    SSL *ssl;
    BIO *wbio;                      /* memory BIO: ciphertext not yet on the socket */
    unsigned char ob[OBUF_CAP];     /* queued app data is ob[oh, ot) */
    size_t oh, ot;
    size_t wlen;                    /* SSL_write to repeat with ob+oh, wlen (0: none) */
    int wwant;                      /* what that SSL_write waits for */
    const char *src;                /* text still to queue */
    size_t src_left;
    unsigned long long gen_pos, gen_left; /* --bytes pattern still to queue */
    unsigned long long rx, tx, rekeys, next_rekey, rekey_every, next_chat, chat_owed;
    int rekey_ku;                   /* 1: key update (TLS 1.3), 0: renegotiate (1.2) */
    int got_close, trunc, failed;   /* how reading ended */
    int rd_blocked;                 /* last SSL_read said WANT_READ */
    char err[512];                  /* the failure, for the final message */
    EVP_MD_CTX *rx_md, *tx_md;
    FILE *out;
} c;

static unsigned char scratch[65536];

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("peer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void on_alarm(int sig)
{
    static const char m[] = "peer: watchdog: --max-secs expired, giving up\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    (void)sig;
    _exit(1);
}

/* Why an SSL call failed: the first queued OpenSSL error, else errno. */
static const char *why(int sslerr, int err)
{
    static char buf[512];
    unsigned long e = ERR_peek_error();
    if (e) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && c.ssl) {
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof buf - n, " (%s)",
                     X509_verify_cert_error_string(SSL_get_verify_result(c.ssl)));
        }
    } else if (sslerr == SSL_ERROR_SYSCALL && err) {
        snprintf(buf, sizeof buf, "%s", strerror(err));
    } else if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN) {
        snprintf(buf, sizeof buf, "connection closed by the client");
    } else {
        snprintf(buf, sizeof buf, "SSL_get_error=%d", sslerr);
    }
    ERR_clear_error();
    return buf;
}

/* Record the first failure; it ends the connection. */
static void fail(const char *fmt, ...)
{
    va_list ap;
    if (!c.failed) {
        va_start(ap, fmt);
        vsnprintf(c.err, sizeof c.err, fmt, ap);
        va_end(ap);
    }
    c.failed = 1;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* select() on the connection; timeout_ms < 0 waits for ever (the watchdog rules). */
static int wait_io(int rd, int wr, long timeout_ms)
{
    fd_set r, w;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    FD_ZERO(&r);
    FD_ZERO(&w);
    if (rd)
        FD_SET(c.fd, &r);
    if (wr)
        FD_SET(c.fd, &w);
    int n = select(c.fd + 1, &r, &w, NULL, timeout_ms < 0 ? NULL : &tv);
    if (n < 0 && errno != EINTR)
        die(1, "select: %s", strerror(errno));
    return n;
}

static size_t wbio_pending(void) { return c.wbio ? (size_t)BIO_pending(c.wbio) : 0; }

/* Copy what the memory BIO holds to the socket, as far as it takes it now. */
static int flush_net(void)
{
    char *p;
    long n;
    while ((n = BIO_get_mem_data(c.wbio, &p)) > 0) {
        ssize_t w = write(c.fd, p, (size_t)n);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        while (w > 0) { /* drop what went out */
            int k = BIO_read(c.wbio, scratch, w > (ssize_t)sizeof scratch ? (int)sizeof scratch : (int)w);
            if (k <= 0)
                break;
            w -= k;
        }
    }
    return 0;
}

/* Flush everything, waiting for the socket, until done or deadline. */
static void flush_all(long deadline)
{
    while (wbio_pending() > 0) {
        if (flush_net() < 0) {
            fail("write: %s", strerror(errno));
            return;
        }
        long left = deadline - now_ms();
        if (wbio_pending() == 0 || left <= 0)
            return;
        wait_io(0, 1, left);
    }
}

/* Close without an RST: send FIN, read (discard) until the client's FIN or DRAIN_MS. */
static void drain_close(void)
{
    long end = now_ms() + DRAIN_MS;
    shutdown(c.fd, SHUT_WR);
    for (;;) {
        ssize_t r = read(c.fd, scratch, sizeof scratch);
        if (r > 0)
            continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
        long left = end - now_ms();
        if (left <= 0)
            break;
        wait_io(1, 0, left);
    }
    close(c.fd);
}

static unsigned long long parse_num(const char *s, const char *name)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1024 * 1024 * 1024, end++;
    if (errno || end == s || *end || *s == '-')
        die(2, "usage: %s: not a number: %s", name, s);
    return v * mult;
}

/* --bytes content: 16-byte lines "%015llu\n" (line number), cut at N bytes.
 * Reproducible in shell: seq -f '%015.0f' 0 $((N/16)) | head -c N */
static void gen_pattern(unsigned char *dst, unsigned long long pos, size_t n)
{
    char line[32];
    while (n > 0) {
        size_t off = (size_t)(pos % 16), k = 16 - off;
        snprintf(line, sizeof line, "%015llu\n", pos / 16);
        if (k > n)
            k = n;
        memcpy(dst, line + off, k);
        dst += k, pos += k, n -= k;
    }
}

static int echoing(void) { return opt.mode == M_ECHO || opt.mode == M_SPEAK; }

/* Move queued data to the front when the tail is short of room. Never while
 * an SSL_write waits for a retry: that must see the same pointer again. */
static void compact(void)
{
    if (c.wlen || c.oh == 0 || (c.oh != c.ot && OBUF_CAP - c.ot >= sizeof scratch))
        return;
    memmove(c.ob, c.ob + c.oh, c.ot - c.oh);
    c.ot -= c.oh;
    c.oh = 0;
}

/* Top up the outgoing queue from --text, the --bytes pattern and --chatty. */
static void queue_more(void)
{
    compact();
    size_t room = OBUF_CAP - c.ot, n;
    if (c.src_left && room) {
        n = c.src_left < room ? c.src_left : room;
        memcpy(c.ob + c.ot, c.src, n);
        c.src += n, c.src_left -= n, c.ot += n, room -= n;
    }
    if (c.gen_left && room) {
        n = c.gen_left < room ? (size_t)c.gen_left : room;
        gen_pattern(c.ob + c.ot, c.gen_pos, n);
        c.gen_pos += n, c.gen_left -= n, c.ot += n, room -= n;
    }
    while (c.chat_owed && room >= CHAT_LEN) {
        memset(c.ob + c.ot, '.', CHAT_LEN - 1);
        memcpy(c.ob + c.ot, "chatty", 6);
        c.ob[c.ot + CHAT_LEN - 1] = '\n';
        c.ot += CHAT_LEN, room -= CHAT_LEN, c.chat_owed -= CHAT_LEN;
    }
}

static int out_empty(void)
{
    return c.oh == c.ot && !c.wlen && !c.src_left && !c.gen_left && !c.chat_owed;
}

static void write_some(void)
{
    while (!c.failed) {
        /* Mid-handshake (TLS 1.2 renegotiation): let SSL_read drive it and hold
         * app data, or OpenSSL may meet client data inside SSL_write. */
        if (SSL_in_init(c.ssl) || wbio_pending() >= WBIO_MAX)
            return;
        queue_more();
        if (!c.wlen)
            c.wlen = c.ot - c.oh < CHUNK ? c.ot - c.oh : CHUNK;
        if (!c.wlen)
            return;
        ERR_clear_error();
        int n = SSL_write(c.ssl, c.ob + c.oh, (int)c.wlen);
        if (n > 0) {
            EVP_DigestUpdate(c.tx_md, c.ob + c.oh, (size_t)n);
            c.tx += (unsigned long long)n;
            c.oh += (size_t)n;
            c.wlen = 0, c.wwant = 0;
            continue;
        }
        int saved = errno, e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            c.wwant = e; /* retry later with the identical ob+oh, wlen */
            return;
        }
        fail("SSL_write: %s", why(e, saved));
    }
}

/* Start a key update (1.3) or renegotiation (1.2) every rekey_every bytes read. */
static void maybe_rekey(void)
{
    if (!c.rekey_every || c.rx < c.next_rekey || c.failed || c.got_close || c.wlen ||
        SSL_get_shutdown(c.ssl) || SSL_in_init(c.ssl))
        return;
    if (!c.rekey_ku && SSL_renegotiate_pending(c.ssl))
        return; /* the last one has not finished yet */
    ERR_clear_error();
    int ok = c.rekey_ku ? SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED) : SSL_renegotiate(c.ssl);
    if (ok != 1) {
        fail("%s: %s", c.rekey_ku ? "SSL_key_update" : "SSL_renegotiate", why(SSL_ERROR_SSL, 0));
        return;
    }
    /* OpenSSL would send it with the next SSL_write; a sink never writes. */
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl), saved = errno, e = SSL_get_error(c.ssl, r);
    if (r != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        fail("SSL_do_handshake (rekey): %s", why(e, saved));
        return;
    }
    c.rekeys++;
    c.next_rekey = (c.rx / c.rekey_every + 1) * c.rekey_every;
}

static void got_data(const unsigned char *buf, size_t n)
{
    EVP_DigestUpdate(c.rx_md, buf, n);
    c.rx += n;
    if (c.out && fwrite(buf, 1, n, c.out) != n)
        die(1, "%s: %s", opt.out, strerror(errno));
    while (opt.chatty && c.rx >= c.next_chat) {
        c.chat_owed += CHAT_LEN;
        c.next_chat += opt.chatty;
    }
}

/* SSL_read until WANT_READ (data may hide inside OpenSSL from select()),
 * or until an echo has no room left. */
static void read_some(void)
{
    c.rd_blocked = 0;
    while (!c.got_close && !c.trunc && !c.failed) {
        unsigned char *buf = scratch;
        size_t len = sizeof scratch;
        if (echoing()) {
            compact();
            buf = c.ob + c.ot;
            len = OBUF_CAP - c.ot < len ? OBUF_CAP - c.ot : len;
            if (!len)
                return;
        }
        ERR_clear_error();
        int n = SSL_read(c.ssl, buf, (int)len);
        if (n > 0) {
            got_data(buf, (size_t)n);
            if (echoing())
                c.ot += (size_t)n;
            maybe_rekey();
            continue;
        }
        int saved = errno, e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            c.rd_blocked = 1;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            c.got_close = 1;
        } else if (e == SSL_ERROR_SSL &&
                   ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            c.trunc = 1; /* TCP closed without close_notify */
            ERR_clear_error();
        } else {
            fail("SSL_read: %s", why(e, saved));
        }
        return;
    }
}

static int reading(void) { return !c.got_close && !c.trunc && !c.failed; }

/* One round of everything that can move without waiting, then one select(). */
static void pump(void)
{
    write_some();
    if (reading())
        read_some();
    /* Renegotiating while an echo buffer is full: SSL_read cannot run, so
     * drive the handshake itself (only handshake records come now). */
    if (reading() && SSL_in_init(c.ssl) && !c.rd_blocked) {
        ERR_clear_error();
        int r = SSL_do_handshake(c.ssl), saved = errno, e = SSL_get_error(c.ssl, r);
        if (r != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail("SSL_do_handshake: %s", why(e, saved));
        c.rd_blocked = r != 1;
    }
    write_some(); /* an echo can send what it just read */
    if (flush_net() < 0)
        fail("write: %s", strerror(errno));
    if (c.failed)
        return;

    int rd = reading() && (c.rd_blocked || c.wwant == SSL_ERROR_WANT_READ);
    int wr = wbio_pending() > 0;
    int more = reading() && !c.rd_blocked && (!echoing() || c.ot < OBUF_CAP);
    if (rd || wr || more)
        wait_io(rd, wr, more ? 0 : -1);
}

static void print_stats(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (c.out && fclose(c.out) != 0)
        die(1, "%s: %s", opt.out, strerror(errno));
    c.out = NULL;
    EVP_DigestFinal_ex(opt.mode == M_SEND ? c.tx_md : c.rx_md, md, &mdlen);
    for (unsigned int i = 0; i < mdlen; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    if (opt.mode == M_SEND)
        printf("sha256=%s bytes=%llu\n", hex, c.tx);
    else
        printf("sha256=%s bytes=%llu close_notify=%d rekeys=%llu\n", hex, c.rx, c.got_close, c.rekeys);
    fflush(stdout);
}

/* After a failure: report, let a pending alert reach the client, close. */
static int finish_failed(void)
{
    fprintf(stderr, "peer: %s\n", c.err);
    flush_net();
    drain_close();
    return 1;
}

/* Our close_notify, then FIN, then wait for the client's FIN. */
static int finish_clean(void)
{
    ERR_clear_error();
    SSL_shutdown(c.ssl); /* 0 or 1; the alert lands in the memory BIO */
    flush_all(now_ms() + DRAIN_MS);
    drain_close();
    return 0;
}

static int run_plain(void)
{
    static const char msg[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
    if (write(c.fd, msg, sizeof msg - 1) < 0)
        die(1, "write: %s", strerror(errno));
    drain_close(); /* reads what the client sent, so no RST */
    return 0;
}

/* Never speak; read and drop what comes, until the client leaves or --hold-ms. */
static int run_silent(void)
{
    long end = now_ms() + opt.hold_ms;
    for (long left; (left = end - now_ms()) > 0;) {
        wait_io(1, 0, left);
        ssize_t r = read(c.fd, scratch, sizeof scratch);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    close(c.fd);
    return 0;
}

static int listen_accept(void)
{
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
    struct sockaddr_in s4 = { .sin_family = AF_INET };
    struct sockaddr *sa = (struct sockaddr *)&s4;
    socklen_t len = sizeof s4;
    int v6 = 0, one = 1;
    if (inet_pton(AF_INET, opt.addr, &s4.sin_addr) == 1) {
        s4.sin_port = htons((unsigned short)opt.port);
    } else if (inet_pton(AF_INET6, opt.addr, &s6.sin6_addr) == 1) {
        s6.sin6_port = htons((unsigned short)opt.port);
        sa = (struct sockaddr *)&s6, len = sizeof s6, v6 = 1;
    } else {
        die(2, "usage: --addr: not an IP address: %s", opt.addr);
    }
    int ls = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0)
        die(1, "socket: %s", strerror(errno));
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, sa, len) < 0 || listen(ls, 8) < 0 || getsockname(ls, sa, &len) < 0)
        die(1, "listen on %s port %d: %s", opt.addr, opt.port, strerror(errno));
    fprintf(stderr, v6 ? "peer: listening on [%s]:%u\n" : "peer: listening on %s:%u\n", opt.addr,
            ntohs(v6 ? s6.sin6_port : s4.sin_port));
    fflush(stderr);
    int fd;
    while ((fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
        if (errno != EINTR && errno != ECONNABORTED)
            die(1, "accept: %s", strerror(errno));
    close(ls);
    return fd;
}

static int no_password(char *buf, int size, int rw, void *u)
{
    (void)buf, (void)size, (void)rw, (void)u;
    return -1; /* never prompt on a terminal: encrypted keys just fail */
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int v = opt.tls == 2 ? TLS1_2_VERSION : TLS1_3_VERSION;
    if (!ctx)
        die(1, "SSL_CTX_new: %s", why(SSL_ERROR_SSL, 0));
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    if (!SSL_CTX_set_min_proto_version(ctx, opt.tls ? v : TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, opt.tls ? v : 0))
        die(1, "--tls: %s", why(SSL_ERROR_SSL, 0));
    if (SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1)
        die(1, "--cert %s: %s", opt.cert, why(SSL_ERROR_SSL, 0));
    if (SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        die(1, "--key %s: %s", opt.key, why(SSL_ERROR_SSL, 0));
    if (opt.tickets >= 0 && SSL_CTX_set_num_tickets(ctx, (size_t)opt.tickets) != 1)
        die(1, "--tickets: %s", why(SSL_ERROR_SSL, 0));
    if (opt.ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(opt.ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1)
            die(1, "--ca %s: %s", opt.ca, why(SSL_ERROR_SSL, 0));
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    if (opt.verify_client)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (opt.allow_reneg)
        SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    return ctx;
}

static void handshake(void)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_accept(c.ssl), saved = errno, e = SSL_get_error(c.ssl, r);
        flush_net(); /* a write error shows up in the next SSL_accept */
        if (r == 1)
            return;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            fprintf(stderr, "peer: handshake failed: %s\n", why(e, saved));
            flush_all(now_ms() + DRAIN_MS); /* our alert */
            drain_close();
            exit(3);
        }
        wait_io(1, wbio_pending() > 0, -1);
    }
}

static void usage(FILE *f)
{
    fputs("usage: peer [options]   (a TLS test server: one connection, then exit)\n"
          "  --addr IP            listen address (127.0.0.1; ::1 for IPv6)\n"
          "  --port N             listen port (0: any free one)\n"
          "  --cert F --key F     server identity (needed for TLS modes)\n"
          "  --tls 1.2|1.3        pin the version (default: 1.2 to 1.3)\n"
          "  --mode M             sink|echo|reply|send|stall|plain|silent|speak-first\n"
          "  --delay-ms N         reply: wait before replying (1000)\n"
          "  --text STR           reply/send/speak-first: the text to send\n"
          "  --bytes N            send: N pattern bytes (k/M/G suffixes)\n"
          "  --truncate           send: end with a TCP FIN instead of close_notify\n"
          "  --hold-ms N          stall/silent: how long to hold the connection (3000)\n"
          "  --ca F               CA for client certificates\n"
          "  --verify-client      require a client certificate signed by --ca\n"
          "  --key-update-every N TLS 1.3: KeyUpdate(update_requested) per N bytes read\n"
          "  --renegotiate-every N TLS 1.2: renegotiate per N bytes read\n"
          "  --allow-client-reneg accept client-initiated renegotiation\n"
          "  --chatty N           also send 100 bytes per N bytes read\n"
          "  --tickets N          TLS 1.3 session tickets to send (OpenSSL default 2)\n"
          "  --out FILE           also write the received payload to FILE\n"
          "  --max-secs N         watchdog: exit 1 after N seconds (60)\n",
          f);
}

static void parse_args(int argc, char **argv)
{
    enum { OPT_ADDR = 256, OPT_PORT, OPT_CERT, OPT_KEY, OPT_TLS, OPT_MODE, OPT_DELAY, OPT_TEXT, OPT_BYTES, OPT_TRUNC,
           OPT_HOLD, OPT_CA, OPT_VERIFY, OPT_KU, OPT_RENEG, OPT_ALLOW, OPT_CHATTY, OPT_TICKETS, OPT_OUT, OPT_MAX };
    static const struct option lo[] = {
        { "addr", 1, 0, OPT_ADDR }, { "port", 1, 0, OPT_PORT }, { "cert", 1, 0, OPT_CERT },
        { "key", 1, 0, OPT_KEY }, { "tls", 1, 0, OPT_TLS }, { "mode", 1, 0, OPT_MODE },
        { "delay-ms", 1, 0, OPT_DELAY }, { "text", 1, 0, OPT_TEXT }, { "bytes", 1, 0, OPT_BYTES },
        { "truncate", 0, 0, OPT_TRUNC }, { "hold-ms", 1, 0, OPT_HOLD }, { "ca", 1, 0, OPT_CA },
        { "verify-client", 0, 0, OPT_VERIFY }, { "key-update-every", 1, 0, OPT_KU },
        { "renegotiate-every", 1, 0, OPT_RENEG }, { "allow-client-reneg", 0, 0, OPT_ALLOW },
        { "chatty", 1, 0, OPT_CHATTY }, { "tickets", 1, 0, OPT_TICKETS }, { "out", 1, 0, OPT_OUT },
        { "max-secs", 1, 0, OPT_MAX }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
    int ch, i;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case OPT_ADDR: opt.addr = optarg; break;
        case OPT_PORT: opt.port = (int)parse_num(optarg, "--port"); break;
        case OPT_CERT: opt.cert = optarg; break;
        case OPT_KEY: opt.key = optarg; break;
        case OPT_TLS:
            if (strcmp(optarg, "1.2") && strcmp(optarg, "1.3"))
                die(2, "usage: --tls: 1.2 or 1.3, not %s", optarg);
            opt.tls = optarg[2] - '0';
            break;
        case OPT_MODE:
            for (i = 0; mode_names[i] && strcmp(mode_names[i], optarg); i++)
                ;
            if (!mode_names[i])
                die(2, "usage: --mode: unknown mode %s", optarg);
            opt.mode = i;
            break;
        case OPT_DELAY: opt.delay_ms = (long)parse_num(optarg, "--delay-ms"); break;
        case OPT_TEXT: opt.text = optarg; break;
        case OPT_BYTES: opt.bytes = parse_num(optarg, "--bytes"); break;
        case OPT_TRUNC: opt.truncate = 1; break;
        case OPT_HOLD: opt.hold_ms = (long)parse_num(optarg, "--hold-ms"); break;
        case OPT_CA: opt.ca = optarg; break;
        case OPT_VERIFY: opt.verify_client = 1; break;
        case OPT_KU: opt.ku_every = parse_num(optarg, "--key-update-every"); break;
        case OPT_RENEG: opt.reneg_every = parse_num(optarg, "--renegotiate-every"); break;
        case OPT_ALLOW: opt.allow_reneg = 1; break;
        case OPT_CHATTY: opt.chatty = parse_num(optarg, "--chatty"); break;
        case OPT_TICKETS: opt.tickets = (int)parse_num(optarg, "--tickets"); break;
        case OPT_OUT: opt.out = optarg; break;
        case OPT_MAX: opt.max_secs = (int)parse_num(optarg, "--max-secs"); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        die(2, "usage: unexpected argument: %s", argv[optind]);
    if (opt.mode != M_PLAIN && opt.mode != M_SILENT && (!opt.cert || !opt.key))
        die(2, "usage: --mode %s needs --cert and --key", mode_names[opt.mode]);
    if (opt.verify_client && !opt.ca)
        die(2, "usage: --verify-client needs --ca");
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_alarm };
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN); /* a write to a reset socket must be an error, not death */
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)opt.max_secs);

    c.rx_md = EVP_MD_CTX_new();
    c.tx_md = EVP_MD_CTX_new();
    if (!c.rx_md || !c.tx_md || !EVP_DigestInit_ex(c.rx_md, EVP_sha256(), NULL) ||
        !EVP_DigestInit_ex(c.tx_md, EVP_sha256(), NULL))
        die(1, "sha256: %s", why(SSL_ERROR_SSL, 0));
    if (opt.out && !(c.out = fopen(opt.out, "wb")))
        die(1, "%s: %s", opt.out, strerror(errno));
    SSL_CTX *ctx = opt.mode == M_PLAIN || opt.mode == M_SILENT ? NULL : make_ctx();

    c.fd = listen_accept();
    if (opt.mode == M_PLAIN)
        return run_plain();
    if (opt.mode == M_SILENT)
        return run_silent();

    BIO *rbio = BIO_new_socket(c.fd, BIO_NOCLOSE);
    c.wbio = BIO_new(BIO_s_mem());
    if (!(c.ssl = SSL_new(ctx)) || !rbio || !c.wbio)
        die(1, "SSL_new: %s", why(SSL_ERROR_SSL, 0));
    SSL_set_bio(c.ssl, rbio, c.wbio);
    handshake();

    /* Rekeying: key update on TLS 1.3, renegotiation on 1.2. */
    int v13 = SSL_version(c.ssl) == TLS1_3_VERSION;
    c.rekey_ku = v13;
    c.rekey_every = v13 ? opt.ku_every : opt.reneg_every;
    if (!c.rekey_every && (opt.ku_every || opt.reneg_every))
        die(2, "%s does not work with %s", opt.ku_every ? "--key-update-every" : "--renegotiate-every",
            SSL_get_version(c.ssl));
    c.next_rekey = c.rekey_every;
    c.next_chat = opt.chatty;

    if (opt.mode == M_STALL) { /* never read; hold, then close */
        flush_all(now_ms() + DRAIN_MS);
        sleep_ms(opt.hold_ms);
        close(c.fd);
        return 0;
    }
    const char *text = opt.text ? opt.text : opt.mode == M_SPEAK ? "hello from peer\n" : "late reply\n";
    if (opt.mode == M_SPEAK || (opt.mode == M_SEND && opt.text))
        c.src = text, c.src_left = strlen(text);
    else if (opt.mode == M_SEND)
        c.gen_left = opt.bytes;

    if (opt.mode == M_SEND) {
        while (!c.failed && !out_empty())
            pump(); /* reads (and drops) what the client sends meanwhile */
        flush_all(now_ms() + 60000);
        if (c.failed)
            return finish_failed();
        print_stats();
        if (opt.truncate) { /* FIN without close_notify */
            drain_close();
            return 0;
        }
        ERR_clear_error();
        SSL_shutdown(c.ssl);
        while (reading()) /* until the client's close_notify or FIN */
            pump();
        if (c.failed)
            return finish_failed();
        flush_all(now_ms() + DRAIN_MS);
        drain_close();
        return 0;
    }

    /* sink, echo, speak-first, reply: until the client's close_notify, with
     * everything queued (echo, chatter) sent. */
    while (reading() || (c.got_close && !c.failed && !out_empty()))
        pump();
    if (opt.mode == M_REPLY && c.got_close && !c.failed) {
        sleep_ms(opt.delay_ms);
        c.src = text, c.src_left = strlen(text);
        while (!c.failed && !out_empty())
            pump();
    }
    flush_all(now_ms() + 60000);
    print_stats();
    if (c.failed)
        return finish_failed();
    if (c.trunc) { /* no SSL_shutdown after a fatal error (notes, section 4) */
        close(c.fd);
        return 0;
    }
    return finish_clean();
}
