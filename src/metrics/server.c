/*
 * server.c: the worker's HTTP endpoint (/metrics, /healthz, /readyz) on the
 * libuv loop (see metrics.h).
 *
 * One uv_tcp_t listens; every accepted connection gets a uv_tcp_t and a
 * uv_timer_t and goes through one request:
 *
 *   READING   bytes gather in a fixed 8 KiB buffer, the head is re-parsed
 *             (request.c) after every read; junk is answered at once
 *   WRITING   reading stops, one uv_write of head + body
 *   LINGERING the write is done: shutdown(SHUT_WR) sends our FIN, and what
 *             the client still sends is read and dropped until its EOF
 *   CLOSING   both handles are closing; the last close callback frees
 *
 * Lingering (as nginx does) matters for the error answers: a client that
 * sent more than we read (an oversized head, a body) would get a RST from a
 * plain close(), and a RST can destroy our answer in the client's receive
 * buffer before it is read.
 *
 * One timer per connection bounds READING and WRITING together (read
 * timeout, 5 s) and then LINGERING (2 s), so an idle or slow client cannot
 * hold a connection.  Past MAX_CONNS connections a new one is accepted and
 * closed at once.
 *
 * The listening socket is made with plain socket/bind/listen and handed to
 * libuv only when it works: a libuv handle cannot be freed synchronously, so
 * it is acquired last and a failed start leaves nothing behind.
 *
 * Rejected: keep-alive (a scrape every 15 s does not need it, and "answer
 * and close" has no state to get wrong); chunked answers (the body is
 * rendered whole: a few hundred series are a few tens of KiB).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_int.h"
#include "slate/alloc.h"
#include "slate/log.h"
#include "slate/metrics.h"

/* A scraper needs one connection; 64 leaves room for curl-ing operators and
 * bounds what a flood of idle connections can hold (64 x ~8 KiB). */
#define MAX_CONNS 64
#define DEFAULT_READ_TIMEOUT_MS 5000
/* How long we keep reading after our answer for the client's EOF. */
#define LINGER_MS 2000
#define LISTEN_BACKLOG 128
/* "[" IPv6 "]:" port, with room to spare. */
#define MAX_ADDR 128
/* The reason /readyz gives when not ready. */
#define MAX_WHY 256

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"

enum conn_state { CONN_READING, CONN_WRITING, CONN_LINGERING, CONN_CLOSING };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    struct slate_metrics_server *s;
    enum conn_state state;
    int open_handles; /* initialised and not yet closed: tcp, timer */
    bool counted;     /* holds one of the MAX_CONNS places */
    size_t len;
    char req[SLATE_METRICS_MAX_REQUEST];
    struct slate_buf resp;
    struct conn *prev, *next;
};

struct slate_metrics_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct slate_metrics *metrics;
    void (*collect)(void *ud);
    bool (*ready)(void *ud, char *why, size_t n);
    void *ud;
    unsigned read_timeout_ms;
    int port;
    bool listener_open;
    bool closing;
    struct conn *conns;
    size_t n_active;
    void (*closed)(void *data);
    void *closed_data;
};

/* ---- closing -------------------------------------------------------------- */

static void maybe_done(struct slate_metrics_server *s)
{
    if (!s->closing || s->listener_open || s->conns)
        return;
    void (*closed)(void *) = s->closed;
    void *data = s->closed_data;
    slate_free(s);
    if (closed)
        closed(data);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct slate_metrics_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->counted)
        s->n_active--;
    slate_buf_free(&c->resp);
    slate_free(c);
    maybe_done(s);
}

static void conn_close(struct conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    if (c->open_handles == 2)
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct slate_metrics_server *s = h->data;
    s->listener_open = false;
    maybe_done(s);
}

void slate_metrics_server_close(struct slate_metrics_server *s, void (*closed)(void *data),
                                void *data)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->closed = closed;
    s->closed_data = data;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    for (struct conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

int slate_metrics_server_port(const struct slate_metrics_server *s)
{
    return s ? s->port : -1;
}

/* ---- answering -------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    }
    return "Internal Server Error";
}

static bool path_is(const struct slate_metrics_req *r, const char *p)
{
    return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

static bool method_is(const struct slate_metrics_req *r, const char *m)
{
    return r->method_len == strlen(m) && memcmp(r->method, m, r->method_len) == 0;
}

/* Routes a parsed head (status 200 from the parser) or an error status and
 * writes the whole answer into c->resp. */
static void build_response(struct conn *c, int status, const struct slate_metrics_req *r)
{
    struct slate_metrics_server *s = c->s;
    struct slate_buf body;
    slate_buf_init(&body);
    const char *ctype = TEXT_CONTENT_TYPE;
    const char *extra = "";
    bool head = false;
    if (status == 200) {
        head = method_is(r, "HEAD");
        if (!head && !method_is(r, "GET")) {
            status = 405;
            extra = "Allow: GET, HEAD\r\n";
        } else if (path_is(r, "/metrics")) {
            if (s->collect)
                s->collect(s->ud);
            slate_metrics_render(s->metrics, &body);
            ctype = PROM_CONTENT_TYPE;
        } else if (path_is(r, "/healthz")) {
            slate_buf_puts(&body, "ok\n");
        } else if (path_is(r, "/readyz")) {
            char why[MAX_WHY] = "";
            if (!s->ready || s->ready(s->ud, why, sizeof why)) {
                slate_buf_puts(&body, "ready\n");
            } else {
                why[sizeof why - 1] = '\0';
                status = 503;
                slate_buf_printf(&body, "%s\n", why[0] ? why : "not ready");
            }
        } else {
            status = 404;
        }
    }
    if (status != 200 && status != 503) {
        /* "Not Found" -> "not found\n" */
        for (const char *p = reason_phrase(status); *p; p++) {
            char ch = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
            slate_buf_append(&body, &ch, 1);
        }
        slate_buf_append(&body, "\n", 1);
    }
    slate_buf_printf(&c->resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, reason_phrase(status), ctype, body.len, extra);
    if (!head)
        slate_buf_append(&c->resp, body.data ? body.data : "", body.len);
    slate_buf_free(&body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    if (c->state == CONN_LINGERING) {
        /* What the client still sends is dropped: reuse the whole buffer. */
        *buf = uv_buf_init(c->req, sizeof c->req);
        return;
    }
    *buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof c->req - c->len));
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0)
        conn_close(c); /* also UV_ECANCELED after a close: a no-op then */
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 || c->state != CONN_WRITING) {
        conn_close(c);
        return;
    }
    c->state = CONN_LINGERING;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, LINGER_MS, 0);
}

static void respond(struct conn *c, int status, const struct slate_metrics_req *r)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = CONN_WRITING;
    build_response(c, status, r);
    if (c->state == CONN_CLOSING)
        return; /* the collect or ready callback closed the server */
    uv_buf_t b = uv_buf_init(c->resp.data, (unsigned)c->resp.len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread < 0) {
        /* EOF or an error: before a complete head there is nobody to answer;
         * while lingering it is what we wait for. */
        conn_close(c);
        return;
    }
    if (nread == 0 || c->state != CONN_READING)
        return;
    c->len += (size_t)nread;
    struct slate_metrics_req r;
    int status = slate_metrics_parse_request(c->req, c->len, &r);
    if (status != 0)
        respond(c, status, &r);
}

/* ---- accepting -------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status)
{
    struct slate_metrics_server *s = listener->data;
    if (status < 0) {
        slate_warn("metrics: accept failed", "error", uv_strerror(status));
        return;
    }
    struct conn *c = slate_calloc(1, sizeof *c);
    c->s = s;
    slate_buf_init(&c->resp);
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        slate_free(c);
        return;
    }
    c->tcp.data = c;
    c->open_handles = 1;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->n_active >= MAX_CONNS) {
        conn_close(c);
        return;
    }
    c->counted = true;
    s->n_active++;
    if (uv_timer_init(s->loop, &c->timer) != 0) {
        conn_close(c);
        return;
    }
    c->timer.data = c;
    c->open_handles = 2;
    uv_timer_start(&c->timer, on_timeout, s->read_timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

/* "a.b.c.d:port" or "[v6]:port", IP literals only (resolving a name would
 * block the loop). */
static bool parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl)
{
    if (!addr)
        return false;
    size_t n = strlen(addr);
    if (n == 0 || n >= MAX_ADDR)
        return false;
    char host[MAX_ADDR];
    const char *port;
    bool v6 = addr[0] == '[';
    if (v6) {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return false;
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon)
            return false;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
    }
    uint64_t p;
    if (!slate_parse_u64(port, &p) || p > 65535)
        return false;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return false;
        *sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return false;
        *sl = sizeof *a;
    }
    return true;
}

/* socket, bind, listen; returns the fd or -1 with errno set. */
static int listen_socket(const struct sockaddr_storage *ss, socklen_t sl, int *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bl) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static void free_on_close(uv_handle_t *h)
{
    slate_free(h->data);
}

int slate_metrics_server_start(uv_loop_t *loop, const struct slate_metrics_server_opts *opts,
                               struct slate_metrics_server **out, struct slate_err *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *addr = opts->addr ? opts->addr : "";
    if (!parse_addr(opts->addr, &ss, &sl))
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "metrics: listen address \"%.64s\" is not IPv4:PORT or "
                             "[IPv6]:PORT", addr);
    int port = 0;
    int fd = listen_socket(&ss, sl, &port);
    if (fd < 0)
        return slate_err_set(err, SLATE_E_INTERNAL, "metrics: cannot listen on %s: %s", addr,
                             strerror(errno));
    struct slate_metrics_server *s = slate_calloc(1, sizeof *s);
    s->loop = loop;
    s->metrics = opts->metrics;
    s->collect = opts->collect;
    s->ready = opts->ready;
    s->ud = opts->ud;
    s->read_timeout_ms = opts->read_timeout_ms ? opts->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
    s->port = port;
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc != 0) {
        close(fd);
        slate_free(s);
        return slate_err_set(err, SLATE_E_INTERNAL, "metrics: %s", uv_strerror(rc));
    }
    s->listener.data = s;
    rc = uv_tcp_open(&s->listener, fd);
    if (rc != 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->listener, free_on_close);
        return slate_err_set(err, SLATE_E_INTERNAL, "metrics: cannot listen on %s: %s", addr,
                             uv_strerror(rc));
    }
    s->listener_open = true;
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    slate_debug("metrics endpoint listening", "addr", addr, "port", portbuf);
    *out = s;
    return 0;
}
