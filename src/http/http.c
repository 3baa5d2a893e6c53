/*
 * http.c: curl multi on the libuv loop, GET only (see http.h).
 *
 * Data flow: slate_http_get() adds an easy handle to the multi; curl asks for
 * sockets to be watched (socket callback -> one uv_poll_t per socket) and for
 * a timer (timer callback -> one uv_timer_t); libuv events are handed back
 * with curl_multi_socket_action(), after which every finished transfer is
 * drained from curl_multi_info_read() (on both the socket and the timer path:
 * curl's own example misses completions on the timer path).
 *
 * Bytes are counted in the write and header callbacks, because curl 7.88's
 * MAXFILESIZE does not stop a chunked body.  A callback never calls a
 * curl_multi_* function; it aborts a transfer by returning a short count.
 *
 * Rejected: one easy handle per request kept alive in a pool (the connection
 * pool lives in the multi and TLS sessions in the share, so a fresh easy
 * handle costs little); HTTP/2 is negotiated when the server offers it.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slate/alloc.h"
#include "slate/http.h"
#include "slate/log.h"
#include "slate/util.h"

/* Response headers beyond this many bytes are an attack or a broken proxy. */
#define MAX_HEADER_BYTES (64 * 1024)
/* How much of an error body is kept for the caller to read `error.code`. */
#define MAX_ERROR_BODY 8192
/* Longest path+query the worker ever asks for, with room to spare. */
#define MAX_PATH 1024

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct slate_http *h;
    struct sock_ctx *prev, *next;
};

struct slate_http_req {
    struct slate_http *h;
    CURL *easy;
    struct curl_slist *headers;
    struct slate_http_cb cb;
    void *ud;
    long status;
    int64_t rl_limit, rl_remaining, rl_reset;
    char correlation_id[128];
    size_t header_bytes;
    uint64_t body_bytes;
    bool too_big;
    bool headers_too_big;
    bool aborted;
    char errbody[MAX_ERROR_BODY];
    size_t errbody_len;
    char curl_error[CURL_ERROR_SIZE];
    struct slate_http_req *prev, *next;
};

struct slate_http {
    uv_loop_t *loop;
    CURLM *multi;
    CURLSH *share;
    uv_timer_t timer;
    char *base_url;
    char *ca_file;
    const char *protocols;
    struct slate_http_opts opts;
    struct slate_http_req *reqs;
    size_t n_reqs;
    struct sock_ctx *socks;
    int open_handles;
    bool closing;
    void (*closed)(void *data);
    void *closed_data;
};

static void check_done(struct slate_http *h);

static void list_add_req(struct slate_http *h, struct slate_http_req *r)
{
    r->prev = NULL;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->n_reqs++;
}

static void list_del_req(struct slate_http *h, struct slate_http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    h->n_reqs--;
}

static void maybe_closed(struct slate_http *h)
{
    if (!h->closing || h->open_handles > 0)
        return;
    void (*closed)(void *) = h->closed;
    void *data = h->closed_data;
    slate_free(h->base_url);
    slate_free(h->ca_file);
    slate_free(h);
    if (closed)
        closed(data);
}

static void on_sock_closed(uv_handle_t *handle)
{
    struct sock_ctx *s = handle->data;
    struct slate_http *h = s->h;
    slate_free(s);
    h->open_handles--;
    maybe_closed(h);
}

static void sock_release(struct slate_http *h, struct sock_ctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct sock_ctx *s = poll->data;
    struct slate_http *h = s->h;
    int flags = 0;
    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF: curl must still hear of it. */
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct slate_http *h = userp;
    struct sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_release(h, s);
        }
        return 0;
    }
    if (!s) {
        s = slate_calloc(1, sizeof *s);
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            slate_free(s);
            return -1;
        }
        s->poll.data = s;
        h->open_handles++;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timer(uv_timer_t *t)
{
    struct slate_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct slate_http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct slate_http_req *r = ud;
    size_t n = size * nmemb;
    if (r->status == 0)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    r->body_bytes += n;
    if (r->body_bytes > r->h->opts.max_body) {
        r->too_big = true;
        return 0;
    }
    if (r->status >= 200 && r->status < 300) {
        if (r->cb.on_body && r->cb.on_body(r->ud, ptr, n) != 0) {
            r->aborted = true;
            return 0;
        }
        return n;
    }
    size_t room = sizeof r->errbody - 1 - r->errbody_len;
    size_t take = n < room ? n : room;
    memcpy(r->errbody + r->errbody_len, ptr, take);
    r->errbody_len += take;
    r->errbody[r->errbody_len] = '\0';
    return n;
}

/* Matches "Name:" case-insensitively (HTTP/2 sends lower case) and returns
 * the trimmed value, or NULL. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static int64_t header_int(const char *v, size_t n)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    int64_t out;
    return slate_parse_i64(tmp, &out) ? out : -1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct slate_http_req *r = ud;
    size_t n = size * nmemb;
    r->header_bytes += n;
    if (r->header_bytes > MAX_HEADER_BYTES) {
        r->headers_too_big = true;
        return 0;
    }
    size_t vl;
    const char *v;
    if ((v = header_value(ptr, n, "ratelimit-limit", &vl)))
        r->rl_limit = header_int(v, vl);
    else if ((v = header_value(ptr, n, "ratelimit-remaining", &vl)))
        r->rl_remaining = header_int(v, vl);
    else if ((v = header_value(ptr, n, "ratelimit-reset", &vl)))
        r->rl_reset = header_int(v, vl);
    else if ((v = header_value(ptr, n, "x-correlation-id", &vl))) {
        /* Keep only characters that are safe in a log line. */
        size_t o = 0;
        for (size_t i = 0; i < vl && o < sizeof r->correlation_id - 1; i++) {
            char c = v[i];
            if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
                r->correlation_id[o++] = c;
        }
        r->correlation_id[o] = '\0';
    }
    return n;
}

static void req_free(struct slate_http_req *r)
{
    curl_easy_cleanup(r->easy);
    /* The list holds the Authorization header: wipe before freeing. */
    for (struct curl_slist *l = r->headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(r->headers);
    slate_free(r);
}

static void classify(struct slate_http_req *r, CURLcode rc, struct slate_http_result *res,
                     char *msg, size_t msglen)
{
    res->code = SLATE_E_OK;
    if (rc == CURLE_OK)
        return;
    if (r->too_big) {
        res->code = SLATE_E_BAD_RESPONSE;
        snprintf(msg, msglen, "the API response body exceeds %zu bytes", r->h->opts.max_body);
    } else if (r->headers_too_big) {
        res->code = SLATE_E_BAD_RESPONSE;
        snprintf(msg, msglen, "the API response headers exceed %d bytes", MAX_HEADER_BYTES);
    } else if (r->aborted) {
        res->code = SLATE_E_BAD_RESPONSE;
        snprintf(msg, msglen, "the response was rejected while it arrived");
    } else {
        switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            res->code = SLATE_E_TIMEOUT;
            snprintf(msg, msglen, "the Hetzner Cloud API did not answer in time (%s)",
                     r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc));
            break;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            res->code = SLATE_E_INTERNAL;
            snprintf(msg, msglen, "refused to fetch the URL: %s", curl_easy_strerror(rc));
            break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
            res->code = SLATE_E_HETZNER_UNAVAILABLE;
            snprintf(msg, msglen, "TLS to the Hetzner Cloud API failed: %s",
                     r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc));
            break;
        default:
            res->code = SLATE_E_HETZNER_UNAVAILABLE;
            snprintf(msg, msglen, "the Hetzner Cloud API could not be reached: %s",
                     r->curl_error[0] ? r->curl_error : curl_easy_strerror(rc));
        }
    }
    res->error = msg;
}

static void finish(struct slate_http_req *r, CURLcode rc, bool cancelled)
{
    struct slate_http *h = r->h;
    curl_multi_remove_handle(h->multi, r->easy);
    list_del_req(h, r);

    struct slate_http_result res = {0};
    char msg[CURL_ERROR_SIZE + 128] = "";
    if (cancelled) {
        res.code = SLATE_E_INTERNAL;
        res.error = "the request was cancelled";
    } else {
        classify(r, rc, &res, msg, sizeof msg);
    }
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    res.status = status;
    res.ratelimit_limit = r->rl_limit;
    res.ratelimit_remaining = r->rl_remaining;
    res.ratelimit_reset = r->rl_reset;
    res.correlation_id = r->correlation_id;
    res.error_body = r->errbody;
    res.error_body_len = r->errbody_len;
    res.body_bytes = r->body_bytes;
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &res.total_s);
    r->cb.on_done(r->ud, &res);
    req_free(r);
}

static void check_done(struct slate_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct slate_http_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(r, m->data.result, false);
    }
}

bool slate_http_url_is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        struct in_addr a4;
        if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
            ok = true;
        else if (inet_pton(AF_INET, host, &a4) == 1)
            ok = (ntohl(a4.s_addr) >> 24) == 127;
    }
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

int slate_http_new(uv_loop_t *loop, const struct slate_http_opts *opts, struct slate_http **out,
                   struct slate_err *err)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return slate_err_set(err, SLATE_E_INTERNAL, "libcurl could not be initialised");
        global_done = true;
    }

    CURLU *u = curl_url();
    char *scheme = NULL;
    int rc = curl_url_set(u, CURLUPART_URL, opts->base_url, 0) == CURLUE_OK &&
                     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
                 ? 0
                 : -1;
    bool https = rc == 0 && strcmp(scheme, "https") == 0;
    bool http = rc == 0 && strcmp(scheme, "http") == 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    if (rc != 0 || (!https && !http))
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "SLATE_HETZNER_URL is not an http(s) URL");
    bool loopback = slate_http_url_is_loopback(opts->base_url);
    if (http && !loopback && !opts->insecure_http)
        return slate_err_set(err, SLATE_E_INTERNAL,
                             "SLATE_HETZNER_URL uses plain http:// to a host that is not loopback; "
                             "use https:// or set SLATE_HETZNER_INSECURE_HTTP=1");

    struct slate_http *h = slate_calloc(1, sizeof *h);
    h->loop = loop;
    h->opts = *opts;
    h->base_url = slate_strdup(opts->base_url);
    size_t bl = strlen(h->base_url);
    while (bl > 0 && h->base_url[bl - 1] == '/')
        h->base_url[--bl] = '\0';
    h->ca_file = opts->ca_file ? slate_strdup(opts->ca_file) : NULL;
    h->opts.base_url = h->base_url;
    h->opts.ca_file = h->ca_file;
    h->protocols = http ? "http" : "https";

    h->multi = curl_multi_init();
    h->share = curl_share_init();
    if (!h->multi || !h->share) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        if (h->share)
            curl_share_cleanup(h->share);
        slate_free(h->base_url);
        slate_free(h->ca_file);
        slate_free(h);
        return slate_err_set(err, SLATE_E_INTERNAL, "libcurl could not create a multi handle");
    }
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_conns);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_total_conns);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* curl's own cache holds 4 idle connections per easy handle added at
     * the moment a transfer ends: with handles added per request, a lull
     * closes connections a burst opens again (a TCP and TLS handshake each).
     * Keep as many as the worker may open at all. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, opts->max_total_conns);

    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->open_handles = 1;
    *out = h;
    return 0;
}

static bool path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > MAX_PATH || p[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("/_.~?=&%-", c)))
            return false;
    }
    return true;
}

static bool token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return false;
    }
    return true;
}

struct slate_http_req *slate_http_get(struct slate_http *h, const char *path, const char *token,
                                      const struct slate_http_cb *cb, void *ud,
                                      struct slate_err *err)
{
    if (h->closing) {
        slate_err_set(err, SLATE_E_INTERNAL, "the HTTP client is shutting down");
        return NULL;
    }
    if (!path_ok(path)) {
        slate_err_set(err, SLATE_E_INTERNAL, "refused to request a malformed API path");
        return NULL;
    }
    /* The last guard before a token becomes a header: CR, LF, spaces and
     * anything outside printable ASCII can never get there. */
    if (token && !token_ok(token)) {
        slate_err_set(err, SLATE_E_INVALID_TOKEN, NULL);
        return NULL;
    }

    struct slate_http_req *r = slate_calloc(1, sizeof *r);
    r->h = h;
    r->cb = *cb;
    r->ud = ud;
    r->rl_limit = r->rl_remaining = r->rl_reset = -1;
    r->easy = curl_easy_init();
    if (!r->easy) {
        slate_free(r);
        slate_err_set(err, SLATE_E_INTERNAL, "libcurl could not create a transfer");
        return NULL;
    }

    char *url = slate_asprintf("%s%s", h->base_url, path);
    CURL *e = r->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url);
    /* GET, always: nothing in this module can select another method. */
    bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, h->protocols);
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->opts.total_timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, h->opts.low_speed_time_s);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->opts.max_body);
    bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_error);
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "slate-worker/1.0");
    slate_free(url);

    r->headers = curl_slist_append(NULL, "Accept: application/json");
    if (token && r->headers) {
        char *auth = slate_asprintf("Authorization: Bearer %s", token);
        struct curl_slist *l = curl_slist_append(r->headers, auth);
        explicit_bzero(auth, strlen(auth));
        slate_free(auth);
        if (l)
            r->headers = l;
        else
            bad = 1;
    }
    if (!r->headers)
        bad = 1;
    else
        bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);

    if (bad || curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        req_free(r);
        slate_err_set(err, SLATE_E_INTERNAL, "libcurl refused the transfer's options");
        return NULL;
    }
    list_add_req(h, r);
    return r;
}

void slate_http_cancel(struct slate_http_req *req)
{
    finish(req, CURLE_OK, true);
}

size_t slate_http_in_flight(const struct slate_http *h)
{
    return h->n_reqs;
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct slate_http *h = handle->data;
    h->open_handles--;
    maybe_closed(h);
}

void slate_http_close(struct slate_http *h, void (*closed)(void *data), void *data)
{
    h->closing = true;
    h->closed = closed;
    h->closed_data = data;
    while (h->reqs)
        finish(h->reqs, CURLE_OK, true);
    curl_multi_cleanup(h->multi);
    curl_share_cleanup(h->share);
    h->multi = NULL;
    while (h->socks)
        sock_release(h, h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
