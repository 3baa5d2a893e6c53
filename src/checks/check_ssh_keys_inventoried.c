/*
 * check_ssh_keys_inventoried.c: hetzner.ssh_keys_inventoried.
 *
 * Needs the SSH keys read completely.  An integration-level test (CHECKS.md:
 * `checked` is 1, the integration): each key without a name or a fingerprint
 * is a failing finding of its own ("hetzner:I:ssh_key:ID"); a project
 * without any key is judged as a whole (resource "hetzner:I"): it fails when
 * the project has servers, and passes when it has none.  Whether it has servers is known
 * without the servers collection being complete when at least one was read;
 * with none read, it must have been read completely.
 */
#include <inttypes.h>

#include "checks_int.h"

void slate_check_ssh_keys_inventoried(const struct slate_check_input *in,
                                      struct slate_check_result *out)
{
    if (!slate_check_data_or_error(in, SLATE_NEED_SSH_KEYS, out))
        return;
    const struct slate_inventory *inv = in->inv;
    size_t servers = in->n_servers_total ? in->n_servers_total : inv->n_servers;
    if (inv->n_ssh_keys == 0) {
        if (servers == 0 && !slate_check_data_or_error(in, SLATE_NEED_SERVERS, out))
            return;
        out->checked = 1;
        if (servers > 0) {
            struct slate_buf reason;
            slate_buf_init(&reason);
            slate_buf_printf(&reason, "the project has %zu server%s but no SSH keys", servers,
                             servers == 1 ? "" : "s");
            slate_findings_add_integration(&out->failing, in, reason.data);
            slate_buf_free(&reason);
        }
        return;
    }
    out->checked = 1;
    struct slate_buf id;
    slate_buf_init(&id);
    for (size_t i = 0; i < inv->n_ssh_keys; i++) {
        const struct slate_ssh_key *key = &inv->ssh_keys[i];
        bool named = key->name && key->name[0];
        bool printed = key->fingerprint && key->fingerprint[0];
        if (named && printed)
            continue;
        slate_buf_reset(&id);
        slate_buf_printf(&id, "hetzner:%s:ssh_key:%" PRId64, in->integration, key->id);
        slate_findings_add(&out->failing, id.data, key->name,
                           !named && !printed ? "no name and no fingerprint"
                           : !named           ? "no name"
                                              : "no fingerprint");
    }
    slate_buf_free(&id);
}
