/*
 * check_servers_firewalled.c: hetzner.servers_firewalled.  Hetzner Cloud
 * Firewalls filter only public interfaces, so only servers with a public IPv4
 * or IPv6 need one; a private-only server is not_applicable.  The server's own
 * public_net.firewalls is authoritative for the status, and only `applied`
 * protects.  A firewall that reaches the server only according to its own
 * applied_to is in flux and counts as pending.
 *
 * The decision reads only the servers collection; the firewalls collection is
 * read (when present, complete or not) only to name pending firewalls in the
 * reason, so its completeness is not required.
 */
#include "checks_int.h"

static bool bound_earlier(const struct slate_server *srv, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        if (srv->firewalls[j].id == srv->firewalls[k].id)
            return true;
    }
    return false;
}

static bool server_lists(const struct slate_server *srv, int64_t fw_id)
{
    for (size_t j = 0; j < srv->n_firewalls; j++) {
        if (srv->firewalls[j].id == fw_id)
            return true;
    }
    return false;
}

static void pending_reason(const struct slate_inventory *inv, const struct slate_server *srv,
                           struct slate_buf *reason)
{
    for (size_t k = 0; k < srv->n_firewalls; k++) {
        if (srv->firewalls[k].status != SLATE_FW_PENDING || bound_earlier(srv, k))
            continue;
        int64_t id = srv->firewalls[k].id;
        if (reason->len)
            slate_buf_puts(reason, "; ");
        slate_buf_firewall(reason, slate_inv_firewall(inv, id), id);
        slate_buf_puts(reason, " is pending, not applied");
    }
    for (size_t f = 0; f < inv->n_firewalls; f++) {
        const struct slate_firewall *fw = &inv->firewalls[f];
        if (!slate_firewall_reaches(fw, srv->id) || server_lists(srv, fw->id) ||
            slate_inv_firewall(inv, fw->id) != fw)
            continue;
        if (reason->len)
            slate_buf_puts(reason, "; ");
        slate_buf_firewall(reason, fw, fw->id);
        slate_buf_puts(reason, " is pending, not applied");
    }
    if (!reason->len)
        slate_buf_puts(reason, "no firewall applied");
}

void slate_check_servers_firewalled(const struct slate_check_input *in,
                                    struct slate_check_result *out)
{
    if (!slate_check_data_or_error(in, SLATE_NEED_SERVERS, out))
        return;
    struct slate_buf reason;
    slate_buf_init(&reason);
    for (size_t i = 0; i < in->inv->n_servers; i++) {
        const struct slate_server *srv = &in->inv->servers[i];
        if (!slate_server_is_public(srv)) {
            slate_findings_add_server(&out->not_applicable, in, srv, "no public IPv4 or IPv6");
            continue;
        }
        out->checked++;
        bool applied = false;
        for (size_t k = 0; k < srv->n_firewalls; k++)
            applied |= srv->firewalls[k].status == SLATE_FW_APPLIED;
        if (applied)
            continue;
        slate_buf_reset(&reason);
        pending_reason(in->inv, srv, &reason);
        slate_findings_add_server(&out->failing, in, srv, reason.data);
    }
    slate_buf_free(&reason);
}
