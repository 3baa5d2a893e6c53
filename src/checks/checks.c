/*
 * checks.c: the table of tests, running one, and what the tests share: the
 * verdict on whether the stored data may be judged at all (connected, synced,
 * fresh, complete), findings, and the JSON of a result (CHECKS.md).
 *
 * Each test lives in its own file (check_*.c) and only fills `checked` and
 * the three finding lists; slate_check_run derives the status from them, so
 * the precedence fail > error > pass > not_applicable is written once.
 */
#include <inttypes.h>
#include <string.h>

#include "checks_int.h"
#include "slate/alloc.h"

static const char *const iso_cloud_linked[] = {"A.5.9", "A.5.23", NULL};
static const char *const soc_cloud_linked[] = {"CC6.1", "CC4.1", NULL};
static const char *const iso_inventory[] = {"A.5.9", NULL};
static const char *const soc_inventory[] = {"CC6.1", NULL};
static const char *const iso_firewalled[] = {"A.8.20", "A.8.22", NULL};
static const char *const soc_firewalled[] = {"CC6.6", NULL};
static const char *const iso_ssh_public[] = {"A.8.20", "A.8.5", NULL};
static const char *const soc_ssh_public[] = {"CC6.6", "CC6.1", NULL};
static const char *const iso_ssh_keys[] = {"A.5.17", "A.5.9", NULL};
static const char *const soc_ssh_keys[] = {"CC6.1", "CC6.2", NULL};

const struct slate_check_desc slate_checks[] = {
    {"hetzner.cloud_linked", "Cloud infrastructure linked to SecureSlate",
     iso_cloud_linked, soc_cloud_linked,
     "Reconnect the Hetzner integration with a valid Read API token for the project, "
     "and make sure its syncs succeed so that servers, SSH keys and firewalls are read "
     "completely within the freshness window.",
     slate_check_cloud_linked, false},
    {"inventory.active_owners", "Inventory items have active owners",
     iso_inventory, soc_inventory,
     "Assign every server an owner who is an active member of the workspace, in "
     "SecureSlate or with the server's Hetzner label owner set to the member's handle.",
     slate_check_active_owners, true},
    {"inventory.descriptions",
     "Inventory items have descriptions (name, labels, or instance type)",
     iso_inventory, soc_inventory,
     "Give every server a descriptive name or labels (for example its role and "
     "environment) in Hetzner Cloud, so that it can be identified in the inventory.",
     slate_check_descriptions, true},
    {"hetzner.servers_firewalled", "Hetzner servers have firewalls applied",
     iso_firewalled, soc_firewalled,
     "Apply a Hetzner Cloud Firewall to every server with a public IP address, directly "
     "or through a label selector, and make sure its status on the server is applied.",
     slate_check_servers_firewalled, true},
    {"hetzner.ssh_not_public", "Hetzner SSH access is not open to the public internet",
     iso_ssh_public, soc_ssh_public,
     "Restrict the inbound tcp rules that reach SSH (port 22, or the server's ssh-port "
     "label) to known sources such as an office, VPN or bastion host, and apply a "
     "firewall to every server with a public IP address.",
     slate_check_ssh_not_public, true},
    {"hetzner.ssh_keys_inventoried", "Hetzner SSH keys are inventoried",
     iso_ssh_keys, soc_ssh_keys,
     "Add the SSH keys used to reach the project's servers to the Hetzner project, each "
     "with a descriptive name, so that access keys can be reviewed and revoked.",
     slate_check_ssh_keys_inventoried, false},
};

const size_t slate_n_checks = sizeof slate_checks / sizeof slate_checks[0];

const struct slate_check_desc *slate_check_find(const char *id)
{
    for (size_t i = 0; i < slate_n_checks; i++) {
        if (strcmp(slate_checks[i].id, id) == 0)
            return &slate_checks[i];
    }
    return NULL;
}

const char *slate_check_status_name(enum slate_check_status s)
{
    switch (s) {
    case SLATE_CHECK_PASS: return "pass";
    case SLATE_CHECK_FAIL: return "fail";
    case SLATE_CHECK_NOT_APPLICABLE: return "not_applicable";
    case SLATE_CHECK_ERROR: return "error";
    }
    return "error";
}

/* SLATE_FRESHNESS_S's default (24 h); an IPv4 /8 or an IPv6 /32. */
static const struct slate_check_config default_cfg = {86400, 8, 32};

void slate_check_config_default(struct slate_check_config *cfg)
{
    *cfg = default_cfg;
}

const struct slate_check_config *slate_check_cfg(const struct slate_check_input *in)
{
    return in->cfg ? in->cfg : &default_cfg;
}

/* ---- findings -------------------------------------------------------------- */

void slate_findings_add(struct slate_findings *f, const char *resource, const char *name,
                        const char *reason)
{
    f->v = slate_grow(f->v, &f->cap, f->n + 1, sizeof *f->v);
    struct slate_finding *x = &f->v[f->n++];
    x->resource = slate_strdup(resource ? resource : "");
    x->name = slate_strdup(name ? name : "");
    x->reason = slate_strdup(reason ? reason : "");
}

void slate_findings_add_server(struct slate_findings *f, const struct slate_check_input *in,
                               const struct slate_server *srv, const char *reason)
{
    char id[SLATE_ASSET_ID_MAX];
    slate_asset_id(id, in->integration, srv->id);
    slate_findings_add(f, id, srv->name, reason);
}

void slate_findings_add_integration(struct slate_findings *f,
                                    const struct slate_check_input *in, const char *reason)
{
    struct slate_buf id;
    slate_buf_init(&id);
    slate_buf_printf(&id, "hetzner:%s", in->integration);
    slate_findings_add(f, id.data, in->integration, reason);
    slate_buf_free(&id);
}

static void findings_free(struct slate_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        slate_free(f->v[i].resource);
        slate_free(f->v[i].name);
        slate_free(f->v[i].reason);
    }
    slate_free(f->v);
    memset(f, 0, sizeof *f);
}

/* ---- can the data be judged ------------------------------------------------ */

static void sep(struct slate_buf *b)
{
    if (b->len)
        slate_buf_puts(b, "; ");
}

/* "24 h", "90 min", "100 s": the window as the operator configured it. */
static void put_duration(struct slate_buf *b, int64_t s)
{
    if (s > 0 && s % 3600 == 0)
        slate_buf_printf(b, "%" PRId64 " h", s / 3600);
    else if (s > 0 && s % 60 == 0)
        slate_buf_printf(b, "%" PRId64 " min", s / 60);
    else
        slate_buf_printf(b, "%" PRId64 " s", s);
}

bool slate_check_data_usable(const struct slate_check_input *in, unsigned need,
                             struct slate_buf *reason)
{
    const struct slate_sync_state *st = in->sync;
    size_t len0 = reason->len;
    if (!st || !st->connected) {
        sep(reason);
        slate_buf_puts(reason, "the integration is not connected");
        return false;
    }
    if (!in->inv || st->last_success_ms <= 0) {
        sep(reason);
        slate_buf_puts(reason, "no successful sync yet");
        return false;
    }
    const struct slate_check_config *cfg = slate_check_cfg(in);
    /* A window too long to express in ms never expires. */
    if (cfg->freshness_s < INT64_MAX / 1000 &&
        in->now_ms - st->last_success_ms > cfg->freshness_s * 1000) {
        char when[SLATE_TIME_MAX];
        slate_format_time(st->last_success_ms, when);
        sep(reason);
        slate_buf_printf(reason, "the last successful sync, at %s, is older than ", when);
        put_duration(reason, cfg->freshness_s);
    }
    const char *missing[3];
    int nm = 0;
    if ((need & SLATE_NEED_SERVERS) && !st->servers_complete)
        missing[nm++] = "servers";
    if ((need & SLATE_NEED_SSH_KEYS) && !st->ssh_keys_complete)
        missing[nm++] = "SSH keys";
    if ((need & SLATE_NEED_FIREWALLS) && !st->firewalls_complete)
        missing[nm++] = "firewalls";
    if (nm) {
        sep(reason);
        slate_buf_puts(reason, "the last successful sync did not read the ");
        for (int i = 0; i < nm; i++) {
            if (i)
                slate_buf_puts(reason, i == nm - 1 ? " and the " : ", the ");
            slate_buf_puts(reason, missing[i]);
        }
        slate_buf_puts(reason, " completely");
    }
    return reason->len == len0;
}

bool slate_check_data_or_error(const struct slate_check_input *in, unsigned need,
                               struct slate_check_result *out)
{
    struct slate_buf reason;
    slate_buf_init(&reason);
    bool ok = slate_check_data_usable(in, need, &reason);
    if (!ok)
        slate_findings_add_integration(&out->errors, in, reason.data);
    slate_buf_free(&reason);
    return ok;
}

/* ---- model helpers ----------------------------------------------------------- */

bool slate_server_is_public(const struct slate_server *srv)
{
    return (srv->ipv4 && srv->ipv4[0]) || (srv->ipv6 && srv->ipv6[0]);
}

const struct slate_firewall *slate_inv_firewall(const struct slate_inventory *inv, int64_t id)
{
    for (size_t i = 0; i < inv->n_firewalls; i++) {
        if (inv->firewalls[i].id == id)
            return &inv->firewalls[i];
    }
    return NULL;
}

bool slate_firewall_reaches(const struct slate_firewall *fw, int64_t server_id)
{
    size_t lo = 0, hi = fw->n_servers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fw->servers[mid] == server_id)
            return true;
        if (fw->servers[mid] < server_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void slate_buf_firewall(struct slate_buf *b, const struct slate_firewall *fw, int64_t id)
{
    /* Written piece by piece: a failing server's reason names its
     * firewalls, on the sync's hot path. */
    if (fw && fw->name && fw->name[0]) {
        slate_buf_puts(b, "firewall '");
        slate_buf_puts(b, fw->name);
        slate_buf_puts(b, "' (");
        slate_buf_int(b, id);
        slate_buf_puts(b, ")");
    } else {
        slate_buf_puts(b, "firewall ");
        slate_buf_int(b, id);
    }
}

/* ---- running and reporting ----------------------------------------------- */

enum slate_check_status slate_check_status_of(size_t n_failing, size_t n_errors, long checked)
{
    if (n_failing)
        return SLATE_CHECK_FAIL;
    if (n_errors)
        return SLATE_CHECK_ERROR;
    return checked > 0 ? SLATE_CHECK_PASS : SLATE_CHECK_NOT_APPLICABLE;
}

void slate_check_run(const struct slate_check_desc *desc,
                     const struct slate_check_input *in,
                     struct slate_check_result *out)
{
    memset(out, 0, sizeof *out);
    out->desc = desc;
    desc->fn(in, out);
    out->status = slate_check_status_of(out->failing.n, out->errors.n, out->checked);
}

void slate_check_result_free(struct slate_check_result *r)
{
    findings_free(&r->failing);
    findings_free(&r->not_applicable);
    findings_free(&r->errors);
    memset(r, 0, sizeof *r);
}

static void json_str(struct slate_buf *out, const char *s)
{
    slate_buf_json_str(out, s, strlen(s));
}

void slate_findings_json_items(const struct slate_findings *f, struct slate_buf *out)
{
    for (size_t i = 0; i < f->n; i++) {
        slate_buf_puts(out, i ? ",{\"resource\":" : "{\"resource\":");
        json_str(out, f->v[i].resource);
        slate_buf_puts(out, ",\"name\":");
        json_str(out, f->v[i].name);
        slate_buf_puts(out, ",\"reason\":");
        json_str(out, f->v[i].reason);
        slate_buf_puts(out, "}");
    }
}

static void json_list(struct slate_buf *out, const char *const *v)
{
    slate_buf_puts(out, "[");
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            slate_buf_puts(out, ",");
        json_str(out, v[i]);
    }
    slate_buf_puts(out, "]");
}

void slate_check_json_parts(const struct slate_check_desc *desc, enum slate_check_status status,
                            long checked, int64_t now_ms, struct slate_buf parts[4])
{
    char when[SLATE_TIME_MAX];
    slate_format_time(now_ms, when);
    struct slate_buf *p = &parts[0];
    slate_buf_puts(p, "{\"id\":");
    json_str(p, desc->id);
    slate_buf_puts(p, ",\"title\":");
    json_str(p, desc->title);
    slate_buf_puts(p, ",\"status\":");
    json_str(p, slate_check_status_name(status));
    slate_buf_puts(p, ",\"evaluated_at\":");
    json_str(p, when);
    slate_buf_puts(p, ",\"checked\":");
    slate_buf_int(p, checked);
    slate_buf_puts(p, ",\"failing\":[");
    slate_buf_puts(&parts[1], "],\"not_applicable\":[");
    slate_buf_puts(&parts[2], "],\"errors\":[");
    p = &parts[3];
    slate_buf_puts(p, "],\"controls\":{\"iso27001_2022\":");
    json_list(p, desc->iso27001);
    slate_buf_puts(p, ",\"soc2\":");
    json_list(p, desc->soc2);
    slate_buf_puts(p, "},\"remediation\":");
    json_str(p, desc->remediation);
    slate_buf_puts(p, "}");
}

void slate_check_result_json(const struct slate_check_result *r, int64_t now_ms,
                             struct slate_buf *out)
{
    struct slate_buf parts[4];
    for (int i = 0; i < 4; i++)
        slate_buf_init(&parts[i]);
    slate_check_json_parts(r->desc, r->status, r->checked, now_ms, parts);
    const struct slate_findings *lists[3] = {&r->failing, &r->not_applicable, &r->errors};
    for (int i = 0; i < 4; i++) {
        slate_buf_append(out, parts[i].data, parts[i].len);
        if (i < 3)
            slate_findings_json_items(lists[i], out);
        slate_buf_free(&parts[i]);
    }
}
