/*
 * check_cloud_linked.c: hetzner.cloud_linked, the one test about the link
 * itself rather than the inventory.  It passes when the integration is
 * connected, its last sync did not fail, and its last successful sync read
 * servers, SSH keys and firewalls completely within the freshness window;
 * otherwise it fails at once (never `error`: a broken link is the finding),
 * with every reason that holds, "; "-separated.
 */
#include <string.h>

#include "checks_int.h"
#include "slate/error.h"

/* "the last sync failed (invalid_token): Invalid API token". */
static void last_error_reason(const struct slate_sync_state *st, struct slate_buf *reason)
{
    slate_buf_puts(reason, "the last sync failed");
    const char *code = st->last_error_code;
    if (code && code[0])
        slate_buf_printf(reason, " (%s)", code);
    const char *msg = st->last_error;
    if (!msg || !msg[0]) {
        /* No sentence stored: the error table's own, when the code is ours. */
        msg = NULL;
        for (int c = 0; code && c < SLATE_E__COUNT; c++) {
            if (strcmp(code, slate_code_name((enum slate_code)c)) == 0)
                msg = slate_code_message((enum slate_code)c);
        }
    }
    if (msg)
        slate_buf_printf(reason, ": %s", msg);
}

void slate_check_cloud_linked(const struct slate_check_input *in, struct slate_check_result *out)
{
    const struct slate_sync_state *st = in->sync;
    struct slate_buf reason;
    slate_buf_init(&reason);
    out->checked = 1;
    if (st && st->connected && st->status && strcmp(st->status, "error") == 0)
        last_error_reason(st, &reason);
    slate_check_data_usable(in, SLATE_NEED_SERVERS | SLATE_NEED_SSH_KEYS | SLATE_NEED_FIREWALLS,
                            &reason);
    if (reason.len)
        slate_findings_add_integration(&out->failing, in, reason.data);
    slate_buf_free(&reason);
}
