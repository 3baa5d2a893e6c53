/*
 * check_active_owners.c: inventory.active_owners.  The owner of a server
 * asset is the web tier's asset_owners value when that key exists (an empty
 * value there means "nobody" and does not fall back), else the server's
 * Hetzner label `owner`; either is matched exactly against the members.
 */
#include "checks_int.h"

void slate_check_active_owners(const struct slate_check_input *in, struct slate_check_result *out)
{
    if (!slate_check_data_or_error(in, SLATE_NEED_SERVERS, out))
        return;
    struct slate_buf reason;
    slate_buf_init(&reason);
    for (size_t i = 0; i < in->inv->n_servers; i++) {
        const struct slate_server *srv = &in->inv->servers[i];
        char id[SLATE_ASSET_ID_MAX];
        slate_asset_id(id, in->integration, srv->id);
        const char *owner = slate_strmap_get(in->owners, id);
        if (!owner)
            owner = slate_labels_get(&srv->labels, "owner");
        out->checked++;
        slate_buf_reset(&reason);
        if (!owner || !owner[0])
            slate_buf_puts(&reason, "no owner");
        else if (!slate_strset_has(in->members, owner)) {
            slate_buf_puts(&reason, "owner '");
            slate_buf_puts(&reason, owner);
            slate_buf_puts(&reason, "' is not an active member");
        } else
            continue;
        slate_findings_add_server(&out->failing, in, srv, reason.data);
    }
    slate_buf_free(&reason);
}
