/*
 * check_descriptions.c: inventory.descriptions.  Hetzner has no description
 * field on servers, so a server counts as described by a non-empty name, at
 * least one label, or an instance type (its server type).
 */
#include "checks_int.h"

void slate_check_descriptions(const struct slate_check_input *in, struct slate_check_result *out)
{
    if (!slate_check_data_or_error(in, SLATE_NEED_SERVERS, out))
        return;
    for (size_t i = 0; i < in->inv->n_servers; i++) {
        const struct slate_server *srv = &in->inv->servers[i];
        out->checked++;
        if ((srv->name && srv->name[0]) || srv->labels.n > 0 ||
            (srv->server_type && srv->server_type[0]))
            continue;
        slate_findings_add_server(&out->failing, in, srv, "no name, labels or instance type");
    }
}
