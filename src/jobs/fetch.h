/*
 * fetch.h: reads every page of servers, SSH keys and firewalls of one
 * project, through the HTTP client and the streaming parsers.
 *
 * Page 1 of each collection is asked for at once; when it says how many
 * pages there are (last_page), the rest are fetched concurrently, at most
 * SLATE_PAGE_CONCURRENCY per collection; otherwise next_page is followed.
 * Each page parses into an inventory of its own, so that a page that fails
 * half-way and is retried never leaves duplicates: pages join the result
 * only once whole.
 *
 * A request that fails transiently is retried inside the attempt
 * (SLATE_HTTP_RETRIES, short backoff); anything else ends the fetch with the
 * first error, and every transfer still running is cancelled.
 */
#ifndef SLATE_FETCH_H
#define SLATE_FETCH_H

#include "jobs_int.h"
#include "slate/model.h"

struct fetch;

struct fetch_result {
    enum slate_code code;
    const char *error;            /* sentence when code != OK */
    int64_t retry_due_ms;         /* rate limited: when the budget allows */
    /* Rate-limit figures of the last response (-1 when never seen). */
    int64_t rl_limit, rl_remaining, rl_reset;
    unsigned pages;               /* pages fetched (= API requests that succeeded) */
    unsigned requests;            /* API requests made, retries included */
};

/* progress: pages done / pages known so far (may be NULL). */
typedef void fetch_progress_cb(void *ud, unsigned done, unsigned known);
/* Called exactly once (unless fetch_start returned NULL).  On success `inv`
 * holds every record; it stays valid until fetch_free. */
typedef void fetch_done_cb(void *ud, const struct fetch_result *res,
                           const struct slate_inventory *inv);

/* Starts the fetch with `token` (copied and wiped on free).  Returns NULL
 * with err set when nothing could start (then done is never called). */
struct fetch *fetch_start(struct slate_env *env, const char *token, const char *log_id,
                          fetch_progress_cb *progress, fetch_done_cb *done, void *ud,
                          struct slate_err *err);
/* Frees the fetch and its inventory; call after done (or never started). */
void fetch_free(struct fetch *f);

#endif
