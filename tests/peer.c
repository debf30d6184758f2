/*
 * peer.c - a real TLS endpoint (server role) for tlspipe's Bats tests.
 *
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -O2 tests/peer.c -o tests/peer \
 *      $(pkg-config --cflags --libs libssl libcrypto)
 *
 * It listens on 127.0.0.1 (or --addr), port 0 (or --port), says so on stderr
 *     peer: listening on 127.0.0.1:PORT        ([::1]:PORT for IPv6)
 * accepts ONE connection, serves it in --mode, prints one stats line on stdout
 * and exits: 0 ok (also a sink whose client truncated), 1 error, 2 usage,
 * 3 handshake failed. --help lists the options.
 *
 * I/O: the socket is non-blocking and driven by select(). OpenSSL reads the
 * socket through a socket BIO but writes into a memory BIO that we copy to the
 * socket ourselves. So SSL_write never returns WANT_WRITE, and handshake
 * records written from inside SSL_read (renegotiation, alerts) can never clash
 * with a half-sent application record ("bad write retry"). Back-pressure: no
 * SSL_write while the memory BIO holds WBIO_MAX bytes or more.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define OBUF_CAP (1u << 20)   /* queued outgoing app data */
#define WBIO_MAX (256u << 10) /* unsent ciphertext that pauses SSL_write */
#define CHUNK    16384        /* bytes per SSL_write call */
#define DRAIN_MS 1000         /* how long to wait for the client's FIN at close */
#define CHAT_LEN 100          /* --chatty: bytes sent per N received */

enum { M_SINK, M_ECHO, M_REPLY, M_SEND, M_STALL, M_PLAIN, M_SILENT, M_SPEAK, M_BANNER, M_ANSWER, M_HALF,
       M_ALERT };
static const char *const mode_names[] = {
    "sink", "echo", "reply", "send", "stall", "plain", "silent", "speak-first", "banner", "answer",
    "half-hello", "alert-hello", NULL };

/* --inject: what a broken or hostile peer does after --text (see inject()) */
enum { I_NONE, I_GARBAGE, I_OVERFLOW, I_CORRUPT, I_ALERT, I_AFTER_CLOSE };
static const char *const inject_names[] = {
    "none", "garbage", "overflow", "corrupt", "alert", "after-close", NULL };

static struct {
    const char *addr, *cert, *key, *ca, *text, *out, *tls, *mode_s, *inject_s, *rekey_cert;
    unsigned long long port, delay_ms, hold_ms, max_secs, tickets, bytes, ku_every,
        reneg_every, chatty, pause_ms, rcvbuf, reset_after, trickle_ms, storm;
    int mode, verify_client, truncate, allow_reneg, reset, inject, reneg_at_once;
} opt = { .addr = "127.0.0.1", .mode_s = "sink", .inject_s = "none", .delay_ms = 1000,
          .hold_ms = 3000, .max_secs = 60, .tickets = ~0ULL };

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
    int line_seen;                  /* a newline arrived (banner, answer) */
    int rd_blocked;                 /* the last SSL_read said WANT_READ */
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

static void on_alarm(int sig)
{
    static const char m[] = "peer: watchdog: --max-secs expired, giving up\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r, (void)sig;
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

static int want(int e) { return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE; }

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned long long ms) { poll(NULL, 0, (int)ms); }

/* select() on the connection; timeout_ms < 0 waits for ever (the watchdog rules). */
static void wait_io(int rd, int wr, long timeout_ms)
{
    fd_set r, w;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    FD_ZERO(&r);
    FD_ZERO(&w);
    if (rd)
        FD_SET(c.fd, &r);
    if (wr)
        FD_SET(c.fd, &w);
    if (select(c.fd + 1, &r, &w, NULL, timeout_ms < 0 ? NULL : &tv) < 0 && errno != EINTR)
        die(1, "select: %s", strerror(errno));
}

static size_t wbio_pending(void) { return (size_t)BIO_pending(c.wbio); }

/* Copy what the memory BIO holds to the socket, as far as it takes it now. */
static int flush_net(void)
{
    char *p;
    long n;
    while ((n = BIO_get_mem_data(c.wbio, &p)) > 0) {
        ssize_t w = write(c.fd, p, (size_t)n);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        for (int k; w > 0; w -= k) /* drop what went out */
            if ((k = BIO_read(c.wbio, scratch, w < (ssize_t)sizeof scratch ? (int)w : (int)sizeof scratch)) <= 0)
                break;
    }
    return 0;
}

/* Flush everything, waiting for the socket, until done or the deadline. */
static void flush_all(long deadline)
{
    long left;
    while (wbio_pending() > 0) {
        if (flush_net() < 0) {
            fail("write: %s", strerror(errno));
            return;
        }
        if (wbio_pending() == 0 || (left = deadline - now_ms()) <= 0)
            return;
        wait_io(0, 1, left);
    }
}

/* Close without an RST: send FIN, read (discard) until the client's FIN or DRAIN_MS. */
static void drain_close(void)
{
    long end = now_ms() + DRAIN_MS, left;
    shutdown(c.fd, SHUT_WR);
    for (;;) {
        ssize_t r = read(c.fd, scratch, sizeof scratch);
        if (r > 0)
            continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
        if ((left = end - now_ms()) <= 0)
            break;
        wait_io(1, 0, left);
    }
    close(c.fd);
}

/* --bytes content: 16-byte lines "%015llu\n" (the line number), cut at N bytes.
 * The same in shell: seq -f '%015.0f' 0 $((N/16)) | head -c N */
static void gen_pattern(unsigned char *dst, unsigned long long pos, size_t n)
{
    char line[32];
    while (n > 0) {
        size_t off = (size_t)(pos % 16), k = 16 - off < n ? 16 - off : n;
        snprintf(line, sizeof line, "%015llu\n", pos / 16);
        memcpy(dst, line + off, k);
        dst += k, pos += k, n -= k;
    }
}

static int echoing(void) { return opt.mode == M_ECHO || opt.mode == M_SPEAK; }
static int reading(void) { return !c.got_close && !c.trunc && !c.failed; }
static int out_empty(void) { return c.oh == c.ot && !c.wlen && !c.src_left && !c.gen_left && !c.chat_owed; }

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
    for (; c.chat_owed && room >= CHAT_LEN; c.ot += CHAT_LEN, room -= CHAT_LEN, c.chat_owed -= CHAT_LEN) {
        memset(c.ob + c.ot, '.', CHAT_LEN - 1);
        memcpy(c.ob + c.ot, "chatty", 6);
        c.ob[c.ot + CHAT_LEN - 1] = '\n';
    }
}

static void write_some(void)
{
    while (!c.failed) {
        /* Mid-handshake (TLS 1.2 renegotiation): let SSL_read drive it and hold
         * app data, or OpenSSL may meet client data inside SSL_write (notes 1b). */
        if (SSL_in_init(c.ssl) || wbio_pending() >= WBIO_MAX)
            return;
        queue_more();
        if (!c.wlen && !(c.wlen = c.ot - c.oh < CHUNK ? c.ot - c.oh : CHUNK))
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
        if (want(e)) {
            c.wwant = e; /* retry later with the identical ob+oh, wlen */
            return;
        }
        fail("SSL_write: %s", why(e, saved));
    }
}

/* SSL_do_handshake on a handshake under way; 1 when it has finished. */
static int step_handshake(const char *what)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl), saved = errno, e = SSL_get_error(c.ssl, r);
    if (r != 1 && !want(e))
        fail("%s: %s", what, why(e, saved));
    return r == 1;
}

/* Start a key update (1.3) or renegotiation (1.2) every rekey_every bytes read. */
static void maybe_rekey(void)
{
    if (!c.rekey_every || c.rx < c.next_rekey || !reading() || c.wlen ||
        SSL_get_shutdown(c.ssl) || SSL_in_init(c.ssl))
        return;
    if (!c.rekey_ku && SSL_renegotiate_pending(c.ssl))
        return; /* the last one has not finished yet */
    ERR_clear_error();
    /* another certificate for the renegotiation: a chain the client has not seen */
    if (!c.rekey_ku && opt.rekey_cert &&
        (SSL_use_certificate_chain_file(c.ssl, opt.rekey_cert) != 1 ||
         SSL_use_PrivateKey_file(c.ssl, opt.rekey_cert, SSL_FILETYPE_PEM) != 1)) {
        fail("--rekey-cert %s: %s", opt.rekey_cert, why(SSL_ERROR_SSL, 0));
        return;
    }
    if (!c.rekey_ku && opt.rekey_cert) /* a full handshake: the certificate is sent again */
        SSL_set_options(c.ssl, SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    if ((c.rekey_ku ? SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED) : SSL_renegotiate(c.ssl)) != 1) {
        fail("%s: %s", c.rekey_ku ? "SSL_key_update" : "SSL_renegotiate", why(SSL_ERROR_SSL, 0));
        return;
    }
    /* OpenSSL would send it with the next SSL_write, and a sink never writes. */
    step_handshake("SSL_do_handshake (rekey)");
    c.rekeys++;
    c.next_rekey = (c.rx / c.rekey_every + 1) * c.rekey_every;
}

static void got_data(const unsigned char *buf, size_t n)
{
    EVP_DigestUpdate(c.rx_md, buf, n);
    c.rx += n;
    if (memchr(buf, '\n', n))
        c.line_seen = 1;
    if (c.out && fwrite(buf, 1, n, c.out) != n)
        die(1, "%s: %s", opt.out, strerror(errno));
    for (; opt.chatty && c.rx >= c.next_chat; c.next_chat += opt.chatty)
        c.chat_owed += CHAT_LEN;
}

/* SSL_read until WANT_READ (data may hide inside OpenSSL where select()
 * cannot see it), or until an echo has no room left. */
static void read_some(void)
{
    c.rd_blocked = 0;
    while (reading()) {
        unsigned char *buf = scratch;
        size_t len = sizeof scratch;
        if (echoing()) {
            compact();
            buf = c.ob + c.ot;
            if (!(len = OBUF_CAP - c.ot < len ? OBUF_CAP - c.ot : len))
                return;
        }
        ERR_clear_error();
        int n = SSL_read(c.ssl, buf, (int)len);
        if (n > 0) {
            got_data(buf, (size_t)n);
            if (opt.mode == M_BANNER && c.line_seen)
                return; /* one line and no more: what follows stays unread */
            if (opt.reset_after && c.rx >= opt.reset_after)
                return; /* the reset comes now, mid-upload */
            if (echoing())
                c.ot += (size_t)n;
            maybe_rekey();
            continue;
        }
        int saved = errno, e = SSL_get_error(c.ssl, n);
        if (want(e)) {
            c.rd_blocked = 1;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            c.got_close = 1;
        } else if (e == SSL_ERROR_SSL &&
                   ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            c.trunc = 1; /* TCP closed without close_notify (notes 4) */
            ERR_clear_error();
        } else {
            fail("SSL_read: %s", why(e, saved));
        }
        return;
    }
}

/* Move data until done() says so: everything that can move without waiting,
 * then one select() for what is missing. */
static void pump(int (*done)(void))
{
    for (;;) {
        write_some();
        if (reading())
            read_some();
        /* Renegotiating while an echo buffer is full: SSL_read cannot run, so
         * drive the handshake itself (only handshake records come now). */
        if (reading() && SSL_in_init(c.ssl) && !c.rd_blocked)
            c.rd_blocked = !step_handshake("SSL_do_handshake");
        write_some(); /* an echo can send what it just read */
        if (flush_net() < 0)
            fail("write: %s", strerror(errno));
        if (c.failed || done())
            return;
        int rd = reading() && (c.rd_blocked || c.wwant == SSL_ERROR_WANT_READ);
        int wr = wbio_pending() > 0;
        int more = (reading() && !c.rd_blocked && (!echoing() || c.ot < OBUF_CAP)) ||
                   (!wr && !out_empty() && !SSL_in_init(c.ssl)); /* the socket took it all */
        wait_io(rd, wr, more ? 0 : -1);
    }
}

static int sent_all(void) { return out_empty(); }
static int got_line(void) { return c.line_seen || !reading(); }
static int read_all(void) { return !reading(); }
static int got_enough(void) { return c.rx >= opt.reset_after || !reading(); }
/* Reading is over, and if it ended well, so is what we owe (echo, chatter). */
static int served(void) { return !reading() && (!c.got_close || out_empty()); }

/* Our close_notify. Never mid-handshake (a renegotiation under way): there
 * SSL_shutdown fails with "shutdown while in init" and sends nothing. */
static int hs_idle(void) { return !SSL_in_init(c.ssl) || !reading(); }
static void send_close_notify(void)
{
    pump(hs_idle);
    ERR_clear_error();
    if (!c.failed && SSL_shutdown(c.ssl) < 0)
        fail("SSL_shutdown: %s", why(SSL_ERROR_SSL, 0));
}

static void print_stats(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (c.out && fclose(c.out) != 0)
        die(1, "%s: %s", opt.out, strerror(errno));
    c.out = NULL;
    EVP_DigestFinal_ex(opt.mode == M_SEND ? c.tx_md : c.rx_md, md, &mdlen);
    for (unsigned int i = 0; i < mdlen; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    if (opt.mode == M_SEND)
        printf("sha256=%s bytes=%llu\n", hex, c.tx);
    else
        printf("sha256=%s bytes=%llu close_notify=%d rekeys=%llu\n", hex, c.rx, c.got_close, c.rekeys);
    fflush(stdout);
}

/* ---- broken and hostile peers ---- */

/* Until the client's host has acknowledged what we sent, at most 5 s (a
 * loaded machine can take more than 1): a fault that follows must not
 * overtake it, nor a reset discard it. */
static void wait_acked(void)
{
    int i = 0, q = 1;
    for (; i < 500 && ioctl(c.fd, SIOCOUTQ, &q) == 0 && q > 0; i++)
        sleep_ms(10);
    if (q > 0)
        fprintf(stderr, "peer: %d bytes not acknowledged after 5 s\n", q);
}

/* An abortive close: with SO_LINGER 0, close() sends a TCP reset at once. */
static void reset_close(void)
{
    struct linger lg = { 1, 0 };
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c.fd);
}

/* Bytes straight onto the socket, past OpenSSL, behind what it wrote. */
static void send_raw(const unsigned char *b, size_t n)
{
    flush_all(now_ms() + DRAIN_MS);
    while (n > 0 && !c.failed) {
        ssize_t w = write(c.fd, b, n);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            fail("write: %s", strerror(errno));
        else if (w < 0)
            wait_io(0, 1, DRAIN_MS);
        else
            b += w, n -= (size_t)w;
    }
}

/* --trickle-ms: --text one byte per record, with a pause between them. */
static void trickle(void)
{
    for (size_t i = 0; i < c.src_left && !c.failed; i++) {
        if (i)
            sleep_ms(opt.trickle_ms);
        ERR_clear_error();
        if (SSL_write(c.ssl, c.src + i, 1) != 1) {
            fail("SSL_write: %s", why(SSL_ERROR_SSL, 0));
            break;
        }
        EVP_DigestUpdate(c.tx_md, c.src + i, 1);
        c.tx++;
        flush_all(now_ms() + DRAIN_MS);
        fprintf(stderr, "peer: trickled byte %zu of %zu\n", i + 1, c.src_left);
        fflush(stderr);
    }
    c.src_left = 0;
}

/* --inject KIND, a fault on the wire after the text:
 *   garbage      64 random bytes where a record header belongs
 *   overflow     an application record header announcing 2^14 + 257 bytes,
 *                one more than TLS 1.3 allows (record_overflow), and its body
 *   corrupt      one of our application records with its last byte (the
 *                AEAD tag) flipped: the client's decryption fails
 *   alert        our own SSL is fed a forged record, fails, and sends its
 *                fatal alert (bad_record_mac), as a peer with a fault does
 *   after-close  close_notify, then one more application record */
static void inject(void)
{
    static unsigned char junk[5 + 16384 + 256 + 1];
    static const char late[] = "not payload: after close_notify\n";
    char *p;
    long n;
    switch (opt.inject) {
    case I_GARBAGE:
        RAND_bytes(junk, 64);
        junk[0] |= 0x80; /* no record type */
        send_raw(junk, 64);
        break;
    case I_OVERFLOW:
        RAND_bytes(junk, sizeof junk);
        memcpy(junk, (unsigned char[]){ 23, 3, 3, (sizeof junk - 5) >> 8, (sizeof junk - 5) & 0xff }, 5);
        send_raw(junk, sizeof junk);
        break;
    case I_CORRUPT:
        ERR_clear_error();
        if (SSL_write(c.ssl, "corrupt record\n", 15) != 15) {
            fail("SSL_write: %s", why(SSL_ERROR_SSL, 0));
            break;
        }
        if ((n = BIO_get_mem_data(c.wbio, &p)) > 0)
            p[n - 1] ^= 1;
        flush_all(now_ms() + DRAIN_MS);
        break;
    case I_ALERT: {
        static const unsigned char forged[5 + 32] = { 23, 3, 3, 0, 32 };
        BIO *mem = BIO_new_mem_buf(forged, sizeof forged);
        if (!mem)
            die(1, "BIO_new_mem_buf: %s", why(SSL_ERROR_SSL, 0));
        SSL_set0_rbio(c.ssl, mem); /* the socket BIO goes (BIO_NOCLOSE: the fd stays) */
        ERR_clear_error();
        int r = SSL_read(c.ssl, scratch, sizeof scratch), e = SSL_get_error(c.ssl, r);
        fail("our SSL_read of a forged record: %s", why(e, 0));
        flush_all(now_ms() + DRAIN_MS); /* the alert it wrote */
        break;
    }
    case I_AFTER_CLOSE:
        ERR_clear_error();
        SSL_shutdown(c.ssl);
        SSL_set_shutdown(c.ssl, 0); /* or OpenSSL refuses to write after it */
        if (SSL_write(c.ssl, late, sizeof late - 1) != (int)sizeof late - 1) {
            fail("SSL_write after close_notify: %s", why(SSL_ERROR_SSL, 0));
            break;
        }
        flush_all(now_ms() + DRAIN_MS);
        fprintf(stderr, "peer: sent %zu payload bytes after our close_notify\n", sizeof late - 1);
        break;
    }
}

static int reneg_over(void) { return !SSL_renegotiate_pending(c.ssl) || !reading(); }

/* --rekey-storm N: rekeys back to back with no data between them, as fast as
 * the client answers: key updates (update requested) on TLS 1.3, whole
 * renegotiations on TLS 1.2. It stops early when the client goes. */
static void rekey_storm(void)
{
    int ku = SSL_version(c.ssl) == TLS1_3_VERSION;
    for (unsigned long long i = 0; i < opt.storm && reading(); i++) {
        ERR_clear_error();
        if ((ku ? SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED) : SSL_renegotiate(c.ssl)) != 1) {
            fail("%s: %s", ku ? "SSL_key_update" : "SSL_renegotiate", why(SSL_ERROR_SSL, 0));
            return;
        }
        step_handshake("SSL_do_handshake (storm)");
        c.rekeys++;
        if (flush_net() < 0)
            fail("write: %s", strerror(errno));
        if (ku)
            read_some(); /* the client's answers, or its goodbye */
        else
            pump(reneg_over);
    }
}

/* send with --inject or --rekey-storm: --text, acknowledged, then the fault
 * (a storm the client lives through ends with our close_notify); then read
 * until the client goes, to see how it answered (its alert or its close, on
 * stderr) */
static int hostile(void)
{
    pump(sent_all);
    flush_all(now_ms() + DRAIN_MS);
    wait_acked();
    if (opt.storm)
        rekey_storm();
    else
        inject();
    if (opt.storm && reading())
        send_close_notify(); /* the storm is over and the client still here */
    pump(read_all);
    print_stats();
    if (opt.storm)
        printf("storm_rekeys=%llu\n", c.rekeys);
    fflush(stdout);
    fprintf(stderr, "peer: %s\n", c.failed ? c.err : c.got_close ? "the client sent close_notify"
                                                                  : "the client closed TCP");
    flush_all(now_ms() + DRAIN_MS);
    drain_close();
    return 0;
}

/* --mode half-hello: the first half of our ServerHello record, then
 * silence until --hold-ms: the client's handshake can never finish. */
static void half_hello(void)
{
    char *p;
    long n = BIO_get_mem_data(c.wbio, &p);
    size_t len = n >= 5 ? 5 + ((size_t)(unsigned char)p[3] << 8 | (unsigned char)p[4]) / 2 : (size_t)n;
    if (len > (size_t)n)
        len = (size_t)n;
    if (write(c.fd, p, len) < 0)
        die(1, "write: %s", strerror(errno));
    fprintf(stderr, "peer: sent %zu bytes of our %ld-byte first flight, and nothing more\n", len, n);
    fflush(stderr);
    sleep_ms(opt.hold_ms);
    close(c.fd);
    exit(0);
}

/* No TLS library: the plain and silent modes, and alert-hello, which
 * answers the ClientHello with a fatal handshake_failure alert written by
 * hand, a plaintext record as a server sends it before any keys exist. */
static int run_plain(void)
{
    static const char msg[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
    static const unsigned char alert[] = { 21, 3, 3, 0, 2, 2, 40 };
    if (opt.mode == M_ALERT) {
        wait_io(1, 0, (long)opt.hold_ms); /* the ClientHello */
        if (write(c.fd, alert, sizeof alert) < 0)
            die(1, "write: %s", strerror(errno));
        drain_close();
        return 0;
    }
    if (opt.mode == M_PLAIN) {
        if (write(c.fd, msg, sizeof msg - 1) < 0)
            die(1, "write: %s", strerror(errno));
        drain_close(); /* reads what the client sent, so no RST */
        return 0;
    }
    /* silent: never speak; drop what comes until the client leaves or --hold-ms */
    for (long end = now_ms() + (long)opt.hold_ms, left; (left = end - now_ms()) > 0;) {
        wait_io(1, 0, left);
        ssize_t r = read(c.fd, scratch, sizeof scratch);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    close(c.fd);
    return 0;
}

/* --renegotiate-at-once (TLS 1.2): a HelloRequest right behind our
 * Finished, in the write that ends our handshake: the client reads the end
 * of its handshake and the start of a renegotiation at once. */
static void renegotiate_at_once(void)
{
    ERR_clear_error();
    if (SSL_version(c.ssl) != TLS1_2_VERSION)
        die(1, "--renegotiate-at-once needs TLS 1.2, not %s", SSL_get_version(c.ssl));
    if (SSL_renegotiate(c.ssl) != 1 || SSL_do_handshake(c.ssl) != 1)
        die(1, "SSL_renegotiate: %s", why(SSL_ERROR_SSL, 0));
    fprintf(stderr, "peer: our Finished and a HelloRequest went in one write (%zu bytes)\n", wbio_pending());
    fflush(stderr);
}

/* ... then, once the client has begun the renegotiation (its ClientHello
 * is here, unread), close_notify and FIN: we leave in the middle of the
 * handshake. Then the client's FIN, at most --hold-ms. */
static int leave_renegotiation(void)
{
    long end = now_ms() + (long)opt.hold_ms, left;
    ssize_t r = -1;
    flush_all(now_ms() + DRAIN_MS);
    wait_io(1, 0, (long)opt.hold_ms);
    ERR_clear_error();
    if (SSL_shutdown(c.ssl) < 0)
        die(1, "SSL_shutdown: %s", why(SSL_ERROR_SSL, 0));
    flush_all(now_ms() + DRAIN_MS);
    shutdown(c.fd, SHUT_WR);
    fprintf(stderr, "peer: the client's renegotiation began; we sent close_notify and FIN\n");
    fflush(stderr);
    while ((r = read(c.fd, scratch, sizeof scratch)) != 0 && (left = end - now_ms()) > 0)
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            break;
        else if (r < 0)
            wait_io(1, 0, left);
    fprintf(stderr, "peer: %s\n", r == 0 ? "the client closed TCP" : r < 0 && errno != EAGAIN
            ? strerror(errno) : "the client did not close within --hold-ms");
    close(c.fd);
    return 0;
}

static int listen_accept(void)
{
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)opt.port) };
    struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((unsigned short)opt.port) };
    struct sockaddr *sa = (struct sockaddr *)&s4;
    socklen_t len = sizeof s4;
    int v6 = 0, one = 1, fd;
    if (inet_pton(AF_INET, opt.addr, &s4.sin_addr) != 1) {
        if (inet_pton(AF_INET6, opt.addr, &s6.sin6_addr) != 1)
            die(2, "usage: --addr: not an IP address: %s", opt.addr);
        sa = (struct sockaddr *)&s6, len = sizeof s6, v6 = 1;
    }
    int ls = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0)
        die(1, "socket: %s", strerror(errno));
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opt.rcvbuf) { /* inherited by the connection; no autotuning past it */
        int rb = (int)opt.rcvbuf;
        setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    }
    if (bind(ls, sa, len) < 0 || listen(ls, 8) < 0 || getsockname(ls, sa, &len) < 0)
        die(1, "listen on %s port %llu: %s", opt.addr, opt.port, strerror(errno));
    fprintf(stderr, v6 ? "peer: listening on [%s]:%u\n" : "peer: listening on %s:%u\n", opt.addr,
            ntohs(v6 ? s6.sin6_port : s4.sin_port));
    fflush(stderr);
    while ((fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
        if (errno != EINTR && errno != ECONNABORTED)
            die(1, "accept: %s", strerror(errno));
    close(ls);
    return fd;
}

static int no_password(char *buf, int size, int rw, void *u)
{
    (void)buf, (void)size, (void)rw, (void)u;
    return -1; /* never prompt on the terminal: an encrypted key just fails */
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int v = opt.tls && opt.tls[2] == '2' ? TLS1_2_VERSION : TLS1_3_VERSION;
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
    if (opt.tickets != ~0ULL && SSL_CTX_set_num_tickets(ctx, (size_t)opt.tickets) != 1)
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
        if (opt.mode == M_HALF && wbio_pending() > 0)
            half_hello();
        if (r == 1 && opt.reneg_at_once)
            renegotiate_at_once(); /* before the flush: behind our Finished, in one write */
        flush_net(); /* a write error shows up in the next SSL_accept */
        if (r == 1)
            return;
        if (!want(e)) {
            fprintf(stderr, "peer: handshake failed: %s\n", why(e, saved));
            flush_all(now_ms() + DRAIN_MS); /* our alert */
            drain_close();
            exit(3);
        }
        wait_io(1, wbio_pending() > 0, -1);
    }
}

/* Options: name, argument, help, and where the value goes. */
enum { T_STR, T_NUM, T_FLAG };
static const struct { const char *name, *arg, *help; int type; void *dst; } optv[] = {
    { "addr", "IP", "listen address (127.0.0.1; ::1 for IPv6)", T_STR, &opt.addr },
    { "port", "N", "listen port (0: any free one)", T_NUM, &opt.port },
    { "cert", "FILE", "server certificate (chain), PEM; TLS modes need it", T_STR, &opt.cert },
    { "key", "FILE", "its private key, PEM, unencrypted", T_STR, &opt.key },
    { "tls", "1.2|1.3", "pin the version (default: 1.2 to 1.3)", T_STR, &opt.tls },
    { "mode", "MODE", "sink|echo|reply|send|stall|plain|silent|speak-first|banner|answer|half-hello|alert-hello (sink)",
      T_STR, &opt.mode_s },
    { "delay-ms", "N", "reply: wait after the client's close_notify; answer: after its line (1000)",
      T_NUM, &opt.delay_ms },
    { "text", "STR", "reply/send/speak-first/banner/answer: what to send", T_STR, &opt.text },
    { "rcvbuf", "N", "a small receive buffer (SO_RCVBUF), so the client's writes back up", T_NUM, &opt.rcvbuf },
    { "pause-ms", "N", "sink: read nothing for N ms after the handshake (SIGUSR1 ends it); banner: wait N ms first", T_NUM, &opt.pause_ms },
    { "bytes", "N", "send: N pattern bytes (suffix k, M or G)", T_NUM, &opt.bytes },
    { "truncate", NULL, "send, banner: end with a TCP FIN, no close_notify; sink, echo: answer close_notify so", T_FLAG, &opt.truncate },
    { "reset", NULL, "banner, send (once acknowledged): end with a TCP reset (SO_LINGER 0), no close_notify",
      T_FLAG, &opt.reset },
    { "reset-after", "N", "sink: a TCP reset once N bytes have arrived", T_NUM, &opt.reset_after },
    { "trickle-ms", "N", "send: --text one byte per record, N ms apart", T_NUM, &opt.trickle_ms },
    { "inject", "KIND", "send: after --text, garbage|overflow|corrupt|alert|after-close", T_STR, &opt.inject_s },
    { "rekey-storm", "N", "send: after --text, N key updates (1.3) or renegotiations (1.2), no data",
      T_NUM, &opt.storm },
    { "hold-ms", "N", "stall/silent/half-hello: hold the connection this long; renegotiate-at-once: the most to wait for the client's close; alert-hello: the most to wait for the ClientHello (3000)", T_NUM, &opt.hold_ms },
    { "ca", "FILE", "CA for client certificates", T_STR, &opt.ca },
    { "verify-client", NULL, "require a client certificate signed by --ca", T_FLAG, &opt.verify_client },
    { "key-update-every", "N", "TLS 1.3: KeyUpdate(update_requested) per N bytes read", T_NUM, &opt.ku_every },
    { "renegotiate-every", "N", "TLS 1.2: renegotiate per N bytes read", T_NUM, &opt.reneg_every },
    { "renegotiate-at-once", NULL, "TLS 1.2: a HelloRequest behind our Finished, in one write; close_notify and FIN once the client answers it",
      T_FLAG, &opt.reneg_at_once },
    { "rekey-cert", "FILE", "TLS 1.2: renegotiations present this certificate (chain and key, PEM)",
      T_STR, &opt.rekey_cert },
    { "allow-client-reneg", NULL, "accept client-initiated renegotiation", T_FLAG, &opt.allow_reneg },
    { "chatty", "N", "also send 100 bytes (\"chatty...\\n\") per N bytes read", T_NUM, &opt.chatty },
    { "tickets", "N", "TLS 1.3 session tickets to send (OpenSSL: 2)", T_NUM, &opt.tickets },
    { "out", "FILE", "also write the received payload to FILE", T_STR, &opt.out },
    { "max-secs", "N", "watchdog: exit 1 after N seconds, 0 = never (60)", T_NUM, &opt.max_secs },
};
#define NOPTS (sizeof optv / sizeof optv[0])

static unsigned long long parse_num(const char *s, const char *name)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    const char *units = "kmg", *u = *end ? strchr(units, *end | 0x20) : NULL;
    if (u)
        v <<= 10 * (u - units + 1), end++;
    if (errno || end == s || *end || *s == '-')
        die(2, "usage: --%s: not a number: %s", name, s);
    return v;
}

static void parse_args(int argc, char **argv)
{
    struct option lo[NOPTS + 2] = { { "help", 0, NULL, 'h' } };
    char name[32];
    int ch, i;
    for (i = 0; i < (int)NOPTS; i++)
        lo[i + 1] = (struct option){ optv[i].name, optv[i].arg != NULL, NULL, 256 + i };
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (ch < 256) { /* --help, or an unknown option */
            FILE *f = ch == 'h' ? stdout : stderr;
            fputs("usage: peer [options]   (TLS test server: serves one connection, exits)\n", f);
            for (i = 0; i < (int)NOPTS; i++) {
                snprintf(name, sizeof name, "%s %s", optv[i].name, optv[i].arg ? optv[i].arg : "");
                fprintf(f, "  --%-24s %s\n", name, optv[i].help);
            }
            exit(ch == 'h' ? 0 : 2);
        }
        i = ch - 256;
        if (optv[i].type == T_STR)
            *(const char **)optv[i].dst = optarg;
        else if (optv[i].type == T_FLAG)
            *(int *)optv[i].dst = 1;
        else
            *(unsigned long long *)optv[i].dst = parse_num(optarg, optv[i].name);
    }
    for (i = 0; mode_names[i] && strcmp(mode_names[i], opt.mode_s); i++)
        ;
    if (!mode_names[i])
        die(2, "usage: --mode: unknown mode %s", opt.mode_s);
    opt.mode = i;
    for (i = 0; inject_names[i] && strcmp(inject_names[i], opt.inject_s); i++)
        ;
    if (!inject_names[i])
        die(2, "usage: --inject: unknown kind %s", opt.inject_s);
    opt.inject = i;
    if ((opt.inject || opt.storm || opt.trickle_ms) && opt.mode != M_SEND)
        die(2, "usage: --inject, --rekey-storm and --trickle-ms need --mode send");
    if (opt.reset_after && opt.mode != M_SINK)
        die(2, "usage: --reset-after needs --mode sink");
    if (optind < argc)
        die(2, "usage: unexpected argument: %s", argv[optind]);
    if (opt.tls && strcmp(opt.tls, "1.2") && strcmp(opt.tls, "1.3"))
        die(2, "usage: --tls: 1.2 or 1.3, not %s", opt.tls);
    if (opt.port > 65535)
        die(2, "usage: --port: %llu is too big", opt.port);
    if (opt.mode != M_PLAIN && opt.mode != M_SILENT && opt.mode != M_ALERT && (!opt.cert || !opt.key))
        die(2, "usage: --mode %s needs --cert and --key", opt.mode_s);
    if (opt.verify_client && !opt.ca)
        die(2, "usage: --verify-client needs --ca");
}

/* SIGUSR1 only interrupts a pause (sleep_ms's poll returns early): a test
 * ends --pause-ms at the moment it chooses, not after a guessed time. One
 * that comes before the pause begins (the client can fill its socket while
 * we still finish the handshake) ends it before it begins. */
static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig) { (void)sig; usr1_seen = 1; }

/* --pause-ms: sleep, unless SIGUSR1 came already */
static void pause_ms(void)
{
    if (!usr1_seen)
        sleep_ms(opt.pause_ms);
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_alarm }, su = { .sa_handler = on_usr1 };
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN); /* writing to a reset socket must be an error, not death */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &su, NULL);
    alarm((unsigned)opt.max_secs);

    c.rx_md = EVP_MD_CTX_new();
    c.tx_md = EVP_MD_CTX_new();
    if (!c.rx_md || !c.tx_md || !EVP_DigestInit_ex(c.rx_md, EVP_sha256(), NULL) ||
        !EVP_DigestInit_ex(c.tx_md, EVP_sha256(), NULL))
        die(1, "sha256: %s", why(SSL_ERROR_SSL, 0));
    if (opt.out && !(c.out = fopen(opt.out, "wb")))
        die(1, "%s: %s", opt.out, strerror(errno));
    SSL_CTX *ctx = opt.mode == M_PLAIN || opt.mode == M_SILENT || opt.mode == M_ALERT ? NULL : make_ctx();

    c.fd = listen_accept();
    if (!ctx)
        return run_plain();
    BIO *rbio = BIO_new_socket(c.fd, BIO_NOCLOSE);
    c.wbio = BIO_new(BIO_s_mem());
    if (!(c.ssl = SSL_new(ctx)) || !rbio || !c.wbio)
        die(1, "SSL_new: %s", why(SSL_ERROR_SSL, 0));
    SSL_set_bio(c.ssl, rbio, c.wbio);
    handshake();
    if (opt.reneg_at_once)
        return leave_renegotiation();

    /* Rekeying: key update on TLS 1.3, renegotiation on 1.2. */
    c.rekey_ku = SSL_version(c.ssl) == TLS1_3_VERSION;
    c.rekey_every = c.rekey_ku ? opt.ku_every : opt.reneg_every;
    c.next_rekey = c.rekey_every;
    c.next_chat = opt.chatty;
    if (!c.rekey_every && (opt.ku_every || opt.reneg_every)) {
        fprintf(stderr, "peer: %s does not work with %s\n",
                opt.ku_every ? "--key-update-every" : "--renegotiate-every", SSL_get_version(c.ssl));
        drain_close();
        return 2;
    }
    if (opt.mode == M_STALL) { /* never read; hold, then close (unread data: RST) */
        flush_all(now_ms() + DRAIN_MS);
        sleep_ms(opt.hold_ms);
        close(c.fd);
        return 0;
    }
    if (opt.mode == M_BANNER) {
        /* A banner, one line read, then gone at once: a close_notify of the
         * client's that arrives later meets a closed socket (TCP reset). */
        pause_ms(); /* the client's line may come first */
        c.src = opt.text ? opt.text : "* OK peer ready for you\n";
        c.src_left = strlen(c.src);
        pump(sent_all);
        flush_all(now_ms() + DRAIN_MS);
        wait_acked();
        pump(got_line);
        if (!opt.truncate && !opt.reset && !c.failed && !c.trunc) {
            ERR_clear_error();
            SSL_shutdown(c.ssl);
            flush_all(now_ms() + DRAIN_MS);
        }
        print_stats();
        if (opt.reset)
            reset_close();
        else
            close(c.fd);
        return c.failed;
    }
    if (opt.mode == M_ANSWER) {
        /* Like an IMAP server: a line in, an answer --delay-ms later, unless
         * the client's close_notify came first: then it just hangs up. */
        int answered = 0;
        pump(got_line);
        if (reading() && !c.failed) {
            sleep_ms(opt.delay_ms);
            read_some();
            if (reading() && !c.failed) {
                c.src = opt.text ? opt.text : "answer\n";
                c.src_left = strlen(c.src);
                pump(sent_all);
                answered = 1;
                pump(read_all);
            }
        }
        print_stats();
        printf("answered=%d\n", answered);
        fflush(stdout);
        if (!c.failed && !c.trunc)
            send_close_notify();
        flush_all(now_ms() + DRAIN_MS);
        drain_close();
        return c.failed;
    }
    if (opt.mode == M_SINK && opt.pause_ms)
        pause_ms(); /* the client's writes back up meanwhile */
    if (opt.mode == M_SINK && opt.reset_after) {
        pump(got_enough);
        print_stats();
        reset_close(); /* mid-upload: the client is still writing */
        return c.failed;
    }
    const char *text = opt.text ? opt.text : opt.mode == M_SPEAK ? "hello from peer\n" : "late reply\n";
    if (opt.mode == M_SPEAK || (opt.mode == M_SEND && opt.text))
        c.src = text, c.src_left = strlen(text);
    else if (opt.mode == M_SEND)
        c.gen_left = opt.bytes;

    if (opt.mode == M_SEND && (opt.inject || opt.storm))
        return hostile();
    if (opt.mode == M_SEND) {
        if (opt.trickle_ms)
            trickle();
        pump(sent_all); /* reads (and drops) what the client sends meanwhile */
        flush_all(now_ms() + 60000);
        if (!c.failed)
            print_stats();
        if (!c.failed && opt.reset) {
            wait_acked(); /* all of it is on the client's host: only then the reset */
            reset_close();
            return 0;
        }
        if (!c.failed && opt.truncate) { /* FIN without close_notify */
            drain_close();
            return 0;
        }
        if (!c.failed)
            send_close_notify();
        if (!c.failed)
            pump(read_all); /* until the client's close_notify or FIN */
    } else {
        pump(served);
        if (opt.mode == M_REPLY && c.got_close && !c.failed) {
            sleep_ms(opt.delay_ms);
            c.src = text, c.src_left = strlen(text);
            pump(sent_all);
        }
        flush_all(now_ms() + 60000);
        print_stats();
        if (c.trunc && !c.failed) { /* no SSL_shutdown after a fatal error (notes 4) */
            close(c.fd);
            return 0;
        }
        if (opt.truncate && c.got_close && !c.failed) { /* nginx's way: a TCP close answers */
            flush_all(now_ms() + 60000);
            drain_close();
            return 0;
        }
        if (!c.failed)
            send_close_notify(); /* theirs came first */
    }
    if (c.failed)
        fprintf(stderr, "peer: %s\n", c.err);
    /* Our close_notify (or alert) out, FIN, then wait for the client's FIN. */
    flush_all(now_ms() + DRAIN_MS);
    drain_close();
    return c.failed;
}
