/*
 * api_error.c: the code and message of a Hetzner API error body,
 * `{"error":{"code":"...","message":"...","details":{...}|null}}`, with
 * `details` sometimes absent and keys in any order (a real 429 sends message
 * before code).  yajl callback API with a depth limit, like the page parsers;
 * everything else in the body is skipped.
 */
#include <string.h>

#include <yajl/yajl_parse.h>

#include "hetzner_int.h"

enum where { W_SKIP, W_ERROR, W_CODE, W_MESSAGE };

struct err_parse {
    int depth;          /* containers open */
    bool top_is_map;
    bool in_error;      /* directly inside the "error" object */
    int error_depth;    /* depth of that object */
    enum where next;    /* what the next value at the current level is */
    bool seen_error, have_code, have_message;
    char *code;
    char *message;
};

/* Copies at most cap-1 bytes, cut so as not to split a UTF-8 sequence, with
 * NULs and invalid bytes cleaned. */
static void copy_text(char *dst, size_t cap, const unsigned char *s, size_t n)
{
    struct slate_buf b;
    slate_buf_init(&b);
    slate_hz_append_clean(&b, (const char *)s, n);
    size_t len = b.len < cap - 1 ? b.len : cap - 1;
    while (len > 0 && len < b.len && ((unsigned char)b.data[len] & 0xc0) == 0x80)
        len--;
    if (len)
        memcpy(dst, b.data, len);
    dst[len] = '\0';
    slate_buf_free(&b);
}

static int e_open(void *ctx, bool map)
{
    struct err_parse *e = ctx;
    if (e->depth >= SLATE_HZ_MAX_DEPTH)
        return 0;
    if (e->depth == 0) {
        if (!map)
            return 0;
        e->top_is_map = true;
    } else if (e->depth == 1 && e->next == W_ERROR) {
        if (!map)
            return 0;
        e->in_error = true;
        e->seen_error = true;
        e->error_depth = 2;
    } else if (e->in_error && e->depth == e->error_depth &&
               (e->next == W_CODE || e->next == W_MESSAGE)) {
        return 0; /* code and message are strings */
    }
    e->depth++;
    e->next = W_SKIP;
    return 1;
}

static int e_start_map(void *ctx)
{
    return e_open(ctx, true);
}

static int e_start_array(void *ctx)
{
    return e_open(ctx, false);
}

static int e_close(void *ctx)
{
    struct err_parse *e = ctx;
    if (e->in_error && e->depth == e->error_depth)
        e->in_error = false;
    e->depth--;
    e->next = W_SKIP;
    return 1;
}

static int e_key(void *ctx, const unsigned char *k, size_t n)
{
    struct err_parse *e = ctx;
    e->next = W_SKIP;
    if (e->depth == 1 && n == 5 && memcmp(k, "error", 5) == 0)
        e->next = W_ERROR;
    else if (e->in_error && e->depth == e->error_depth) {
        if (n == 4 && memcmp(k, "code", 4) == 0)
            e->next = W_CODE;
        else if (n == 7 && memcmp(k, "message", 7) == 0)
            e->next = W_MESSAGE;
    }
    return 1;
}

/* A scalar where "error", "code" or "message" should be: the wrong shape
 * (null is taken as absent for message). */
static int e_scalar(void *ctx, bool is_null)
{
    struct err_parse *e = ctx;
    if (e->depth == 0)
        return 0;
    if (e->depth == 1 && e->next == W_ERROR)
        return 0;
    if (e->in_error && e->depth == e->error_depth) {
        if (e->next == W_CODE)
            return 0;
        if (e->next == W_MESSAGE && !is_null)
            return 0;
    }
    return 1;
}

static int e_null(void *ctx)
{
    return e_scalar(ctx, true);
}

static int e_boolean(void *ctx, int v)
{
    (void)v;
    return e_scalar(ctx, false);
}

static int e_number(void *ctx, const char *s, size_t n)
{
    (void)s;
    (void)n;
    return e_scalar(ctx, false);
}

static int e_string(void *ctx, const unsigned char *s, size_t n)
{
    struct err_parse *e = ctx;
    if (e->in_error && e->depth == e->error_depth) {
        if (e->next == W_CODE) {
            copy_text(e->code, SLATE_API_ERROR_CODE_MAX, s, n);
            e->have_code = true;
        } else if (e->next == W_MESSAGE) {
            copy_text(e->message, SLATE_API_ERROR_MESSAGE_MAX, s, n);
            e->have_message = true;
        }
        return 1;
    }
    return e_scalar(ctx, false);
}

static const yajl_callbacks err_callbacks = {
    .yajl_null = e_null,
    .yajl_boolean = e_boolean,
    .yajl_number = e_number,
    .yajl_string = e_string,
    .yajl_start_map = e_start_map,
    .yajl_map_key = e_key,
    .yajl_end_map = e_close,
    .yajl_start_array = e_start_array,
    .yajl_end_array = e_close,
};

int slate_api_error_parse(const char *body, size_t n, char code[SLATE_API_ERROR_CODE_MAX],
                          char message[SLATE_API_ERROR_MESSAGE_MAX])
{
    code[0] = '\0';
    message[0] = '\0';
    if (!body)
        body = "", n = 0;
    struct err_parse e = {.code = code, .message = message};
    yajl_handle h = yajl_alloc(&err_callbacks, &slate_hz_yajl_alloc, &e);
    if (!h)
        return -1;
    yajl_status st = yajl_parse(h, (const unsigned char *)body, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    if (st != yajl_status_ok || !e.top_is_map || !e.seen_error || !e.have_code) {
        code[0] = '\0';
        message[0] = '\0';
        return -1;
    }
    return 0;
}
