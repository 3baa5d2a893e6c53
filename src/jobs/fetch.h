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
 * Memory grows with the page, not with the project: SSH keys and firewalls
 * (few) are kept whole, while each page of servers is handed to the caller
 * as soon as it and every key and firewall are in, and freed when the call
 * returns.  At most SLATE_PAGE_CONCURRENCY pages of servers are held or in
 * flight at once.
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
    size_t servers;               /* servers handed to the page callback */
    unsigned requests;            /* API requests made, retries included */
};

/* progress: pages done / pages known so far (may be NULL). */
typedef void fetch_progress_cb(void *ud, unsigned done, unsigned known);
/* A page of servers (page->servers), with its number in the API's listing
 * and every SSH key and firewall of the project (side); both are valid only
 * during the call.  Pages come in the order they arrive, not by number. */
typedef void fetch_page_cb(void *ud, int64_t number, const struct slate_inventory *page,
                           const struct slate_inventory *side);
/* Called exactly once (unless fetch_start returned NULL).  On success every
 * page of servers was handed to the page callback, and `side` holds every
 * SSH key and firewall (no servers); it stays valid until fetch_free. */
typedef void fetch_done_cb(void *ud, const struct fetch_result *res,
                           const struct slate_inventory *side);

/* Starts the fetch with `token` (copied and wiped on free).  Returns NULL
 * with err set when nothing could start (then done is never called). */
struct fetch *fetch_start(struct slate_env *env, const char *token, const char *log_id,
                          fetch_progress_cb *progress, fetch_page_cb *page, fetch_done_cb *done,
                          void *ud, struct slate_err *err);
/* How many pages of servers the project has, once page 1 said so (0 while
 * unknown, or when next_page is followed instead). */
int64_t fetch_server_pages(const struct fetch *f);
/* Frees the fetch and its inventory; call after done (or never started). */
void fetch_free(struct fetch *f);

#endif
