/*
 * test_checks.c: the six tests of CHECKS.md over inventories built here.
 *
 * A fixture is one integration ("hz-prod") with a fresh, complete sync; each
 * case changes what it needs.  The firewall tests are tables: one server per
 * row, its firewalls and their rules written as short strings.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "slate/checks.h"
#include "slate/model.h"
#include "slate/util.h"
#include "../../src/checks/checks_int.h"

#define NOW 1796413200000LL            /* 2026-12-04T19:40:00Z */
#define HOUR 3600000LL

struct fx {
    struct slate_inventory inv;
    struct slate_sync_state st;
    struct slate_check_config cfg;
    struct slate_strset members;
    char *member_v[8];
    struct slate_strmap owners;
    struct slate_strmap_entry owner_v[8];
    struct slate_check_input in;
    struct slate_check_result res;
    bool ran;
};

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    slate_inventory_init(&f->inv);
    f->st = (struct slate_sync_state){
        .connected = true, .status = "connected", .last_success_ms = NOW - HOUR,
        .servers_complete = true, .ssh_keys_complete = true, .firewalls_complete = true,
    };
    slate_check_config_default(&f->cfg);
    f->members.v = f->member_v;
    f->owners.v = f->owner_v;
    f->in = (struct slate_check_input){
        .integration = "hz-prod", .sync = &f->st, .inv = &f->inv, .members = &f->members,
        .owners = &f->owners, .cfg = &f->cfg, .now_ms = NOW,
    };
}

static void fx_free(struct fx *f)
{
    if (f->ran)
        slate_check_result_free(&f->res);
    slate_inventory_free(&f->inv);
}

static char *S(struct fx *f, const char *s)
{
    return s ? slate_arena_strdup(&f->inv.arena, s) : NULL;
}

/* Members and owners must be added in strcmp order (sorted containers). */
static void member(struct fx *f, const char *who)
{
    f->member_v[f->members.n++] = S(f, who);
}

static void owner(struct fx *f, int64_t server_id, const char *who)
{
    char id[SLATE_ASSET_ID_MAX];
    slate_asset_id(id, "hz-prod", server_id);
    f->owner_v[f->owners.n++] = (struct slate_strmap_entry){S(f, id), S(f, who)};
}

/* Returns the index of the new server (pointers move on the next append). */
static size_t server(struct fx *f, int64_t id, const char *name, const char *ipv4,
                     const char *ipv6)
{
    struct slate_server *s = slate_inventory_add_server(&f->inv);
    s->id = id;
    s->name = S(f, name);
    s->status = S(f, "running");
    s->server_type = S(f, "cx22");
    s->ipv4 = S(f, ipv4);
    s->ipv6 = S(f, ipv6);
    return f->inv.n_servers - 1;
}

static struct slate_server *SRV(struct fx *f, size_t i)
{
    return &f->inv.servers[i];
}

static void label(struct fx *f, struct slate_labels *l, const char *key, const char *value)
{
    struct slate_label *v = slate_arena_alloc(&f->inv.arena, (l->n + 1) * sizeof *v);
    if (l->n)
        memcpy(v, l->v, l->n * sizeof *v);
    v[l->n].key = S(f, key);
    v[l->n].value = S(f, value);
    l->v = v;
    l->n++;
}

static void bind(struct fx *f, size_t srv, int64_t fw_id, enum slate_fw_status st)
{
    struct slate_server *s = SRV(f, srv);
    struct slate_fw_binding *v = slate_arena_alloc(&f->inv.arena, (s->n_firewalls + 1) * sizeof *v);
    if (s->n_firewalls)
        memcpy(v, s->firewalls, s->n_firewalls * sizeof *v);
    v[s->n_firewalls++] = (struct slate_fw_binding){fw_id, st};
    s->firewalls = v;
}

static size_t firewall(struct fx *f, int64_t id, const char *name)
{
    struct slate_firewall *fw = slate_inventory_add_firewall(&f->inv);
    fw->id = id;
    fw->name = S(f, name);
    return f->inv.n_firewalls - 1;
}

/* The firewall's applied_to reaches server_id (kept sorted). */
static void reaches(struct fx *f, size_t fwi, int64_t server_id)
{
    struct slate_firewall *fw = &f->inv.firewalls[fwi];
    int64_t *v = slate_arena_alloc(&f->inv.arena, (fw->n_servers + 1) * sizeof *v);
    size_t k = 0, j = 0;
    while (k < fw->n_servers && fw->servers[k] < server_id)
        v[j++] = fw->servers[k++];
    v[j++] = server_id;
    while (k < fw->n_servers)
        v[j++] = fw->servers[k++];
    fw->servers = v;
    fw->n_servers = j;
}

/* A rule from "DIR PROTO PORT SRC..." ("-" as the port: none). */
static void rule(struct fx *f, size_t fwi, const char *spec)
{
    struct slate_firewall *fw = &f->inv.firewalls[fwi];
    struct slate_fw_rule *v = slate_arena_alloc(&f->inv.arena, (fw->n_rules + 1) * sizeof *v);
    if (fw->n_rules)
        memcpy(v, fw->rules, fw->n_rules * sizeof *v);
    struct slate_fw_rule *r = &v[fw->n_rules];
    memset(r, 0, sizeof *r);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    r->direction = S(f, strtok_r(buf, " ", &save));
    r->protocol = S(f, strtok_r(NULL, " ", &save));
    char *port = strtok_r(NULL, " ", &save);
    r->port = port && strcmp(port, "-") != 0 ? S(f, port) : NULL;
    r->source_ips = slate_arena_alloc(&f->inv.arena, 16 * sizeof(char *));
    for (char *t; (t = strtok_r(NULL, " ", &save));)
        r->source_ips[r->n_source_ips++] = S(f, strcmp(t, "''") == 0 ? "" : t);
    fw->rules = v;
    fw->n_rules++;
}

static void key(struct fx *f, int64_t id, const char *name, const char *fingerprint)
{
    struct slate_ssh_key *k = slate_inventory_add_ssh_key(&f->inv);
    k->id = id;
    k->name = S(f, name);
    k->fingerprint = S(f, fingerprint);
    k->bits = 256;
    k->key_type = S(f, "ssh-ed25519");
}

static const struct slate_check_result *run(struct fx *f, const char *id)
{
    if (f->ran)
        slate_check_result_free(&f->res);
    const struct slate_check_desc *d = slate_check_find(id);
    if (!d) {
        fprintf(stderr, "no test %s\n", id);
        abort();
    }
    slate_check_run(d, &f->in, &f->res);
    f->ran = true;
    return &f->res;
}

static const char *status(const struct slate_check_result *r)
{
    return slate_check_status_name(r->status);
}

/* The one finding of a result with one finding in all. */
static const struct slate_finding *only(const struct slate_check_result *r, const char **list)
{
    size_t n = r->failing.n + r->not_applicable.n + r->errors.n;
    if (n != 1) {
        *list = "none";
        return NULL;
    }
    *list = r->failing.n ? "failing" : r->not_applicable.n ? "not_applicable" : "errors";
    return r->failing.n ? r->failing.v : r->not_applicable.n ? r->not_applicable.v : r->errors.v;
}

/* ---- the table ------------------------------------------------------------- */

TEST(table_matches_checks_md)
{
    const char *ids[] = {"hetzner.cloud_linked", "inventory.active_owners",
                         "inventory.descriptions", "hetzner.servers_firewalled",
                         "hetzner.ssh_not_public", "hetzner.ssh_keys_inventoried"};
    const char *titles[] = {
        "Cloud infrastructure linked to SecureSlate", "Inventory items have active owners",
        "Inventory items have descriptions (name, labels, or instance type)",
        "Hetzner servers have firewalls applied",
        "Hetzner SSH access is not open to the public internet",
        "Hetzner SSH keys are inventoried"};
    const char *iso[] = {"A.5.9 A.5.23", "A.5.9", "A.5.9", "A.8.20 A.8.22", "A.8.20 A.8.5",
                         "A.5.17 A.5.9"};
    const char *soc[] = {"CC6.1 CC4.1", "CC6.1", "CC6.1", "CC6.6", "CC6.6 CC6.1",
                         "CC6.1 CC6.2"};
    REQUIRE(slate_n_checks == 6);
    for (size_t i = 0; i < 6; i++) {
        const struct slate_check_desc *d = &slate_checks[i];
        CHECK_STR(d->id, ids[i]);
        CHECK_STR(d->title, titles[i]);
        CHECK(d->remediation && strlen(d->remediation) > 20);
        CHECK(slate_check_find(ids[i]) == d);
        char buf[64] = "";
        for (size_t k = 0; d->iso27001[k]; k++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? " " : "",
                     d->iso27001[k]);
        CHECK_STR(buf, iso[i]);
        buf[0] = '\0';
        for (size_t k = 0; d->soc2[k]; k++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? " " : "",
                     d->soc2[k]);
        CHECK_STR(buf, soc[i]);
    }
    CHECK(slate_check_find("nope") == NULL);
    CHECK_STR(slate_check_status_name(SLATE_CHECK_PASS), "pass");
    CHECK_STR(slate_check_status_name(SLATE_CHECK_FAIL), "fail");
    CHECK_STR(slate_check_status_name(SLATE_CHECK_NOT_APPLICABLE), "not_applicable");
    CHECK_STR(slate_check_status_name(SLATE_CHECK_ERROR), "error");
    struct slate_check_config cfg;
    slate_check_config_default(&cfg);
    CHECK_INT(cfg.freshness_s, 86400);
    CHECK_INT(cfg.ipv4_broad_prefix, 8);
    CHECK_INT(cfg.ipv6_broad_prefix, 32);
}

/* ---- hetzner.ssh_not_public and hetzner.servers_firewalled: tables -------- */

/* How a firewall reaches the row's server. */
enum how {
    NOT_BOUND,
    DIRECT,          /* the server lists it applied (type server) */
    SELECTOR,        /* the server lists it applied, and its applied_to reaches it */
    PENDING,         /* the server lists it pending */
    APPLIED_TO_ONLY, /* only its applied_to reaches the server: pending */
    UNREAD,          /* the server lists it applied, but it is not in the data */
};

struct fw_spec {
    int64_t id;
    const char *name;
    enum how how;
    const char *rules[4];
};

struct fw_case {
    const char *name;
    const char *ipv4, *ipv6;     /* NULL NULL: private only */
    const char *ssh_port;        /* the ssh-port label, or NULL */
    struct fw_spec fw[3];
    const char *ssh_status;      /* hetzner.ssh_not_public */
    const char *ssh_reason;      /* of the one finding, or NULL for none */
    const char *fw_status;       /* hetzner.servers_firewalled */
    const char *fw_reason;
};

#define PUB "203.0.113.10", "2001:db8:1::/64"
#define WORLD "in tcp 22 0.0.0.0/0 ::/0"

static const struct fw_case fw_cases[] = {
    {"no firewall", PUB, NULL, {{0}},
     "fail", "no firewall applied", "fail", "no firewall applied"},
    {"direct binding opens 22 to the world", PUB, NULL, {{38, "edge", DIRECT, {WORLD}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 0.0.0.0/0, ::/0", "pass", NULL},
    {"label selector binding", PUB, NULL, {{38, "edge", SELECTOR, {"in tcp 22 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 0.0.0.0/0", "pass", NULL},
    {"pending only", PUB, NULL, {{5, "new", PENDING, {"in tcp 22 10.0.0.0/24"}}},
     "fail", "no firewall applied", "fail", "firewall 'new' (5) is pending, not applied"},
    {"applied_to only counts as pending", PUB, NULL,
     {{5, "new", APPLIED_TO_ONLY, {"in tcp 22 10.0.0.0/24"}}},
     "fail", "no firewall applied", "fail", "firewall 'new' (5) is pending, not applied"},
    {"pending binding of a firewall not read", PUB, NULL, {{77, NULL, PENDING, {NULL}}},
     "fail", "no firewall applied", "fail", "firewall 77 is pending, not applied"},
    {"private only", NULL, NULL, NULL, {{38, "edge", DIRECT, {WORLD}}},
     "not_applicable", "no public IPv4 or IPv6", "not_applicable", "no public IPv4 or IPv6"},
    {"private only without firewall", NULL, NULL, NULL, {{0}},
     "not_applicable", "no public IPv4 or IPv6", "not_applicable", "no public IPv4 or IPv6"},
    {"IPv6 only is public", NULL, "2001:db8:1::/64", NULL, {{0}},
     "fail", "no firewall applied", "fail", "no firewall applied"},
    {"IPv4 only is public", "203.0.113.10", NULL, NULL,
     {{38, "edge", DIRECT, {"in tcp 80 0.0.0.0/0"}}},
     "pass", NULL, "pass", NULL},
    {"applied firewall without rules drops everything", PUB, NULL, {{38, "empty", DIRECT, {NULL}}},
     "pass", NULL, "pass", NULL},
    {"port range 20-30", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 20-30 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 20-30 from 0.0.0.0/0", "pass", NULL},
    {"port range 23-30 misses 22", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 23-30 0.0.0.0/0"}}},
     "pass", NULL, "pass", NULL},
    {"port any", PUB, NULL, {{38, "edge", DIRECT, {"in tcp any 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp any from 0.0.0.0/0", "pass", NULL},
    {"missing port covers all", PUB, NULL, {{38, "edge", DIRECT, {"in tcp - ::/0"}}},
     "fail", "firewall 'edge' (38) allows tcp any from ::/0", "pass", NULL},
    {"1-65535", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 1-65535 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 1-65535 from 0.0.0.0/0", "pass", NULL},
    {"2222 without the ssh-port label", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 2222 0.0.0.0/0"}}},
     "pass", NULL, "pass", NULL},
    {"2222 with the ssh-port label", PUB, "2222", {{38, "edge", DIRECT, {"in tcp 2222 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 2222 from 0.0.0.0/0", "pass", NULL},
    {"ssh-port label keeps 22", PUB, "2222", {{38, "edge", DIRECT, {"in tcp 22 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 0.0.0.0/0", "pass", NULL},
    {"ssh-port label that is no number", PUB, "ssh",
     {{38, "edge", DIRECT, {"in tcp 2222 0.0.0.0/0"}}},
     "pass", NULL, "pass", NULL},
    {"ssh-port label out of range", PUB, "70000",
     {{38, "edge", DIRECT, {"in tcp 1-65535 10.0.0.0/16"}}},
     "pass", NULL, "pass", NULL},
    {"udp on 22", PUB, NULL, {{38, "edge", DIRECT, {"in udp 22 0.0.0.0/0 ::/0"}}},
     "pass", NULL, "pass", NULL},
    {"outbound on 22", PUB, NULL, {{38, "edge", DIRECT, {"out tcp 22 0.0.0.0/0 ::/0"}}},
     "pass", NULL, "pass", NULL},
    {"icmp without port", PUB, NULL, {{38, "edge", DIRECT, {"in icmp - 0.0.0.0/0"}}},
     "pass", NULL, "pass", NULL},
    {"0.0.0.0/0 only", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 0.0.0.0/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 0.0.0.0/0", "pass", NULL},
    {"::/0 only", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 ::/0"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from ::/0", "pass", NULL},
    {"two halves of the internet on two firewalls", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 0.0.0.0/1"}}, {2, "b", SELECTOR, {"in tcp 22 128.0.0.0/1"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 0.0.0.0/1; "
             "firewall 'b' (2) allows tcp 22 from 128.0.0.0/1",
     "pass", NULL},
    {"two halves of IPv6", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 8000::/1"}}, {2, "b", DIRECT, {"in tcp 20-30 ::/1"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 8000::/1; "
             "firewall 'b' (2) allows tcp 20-30 from ::/1",
     "pass", NULL},
    {"overlapping pieces; a /32 inside a broad source is not named", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 0.0.0.0/2 64.0.0.0/2", "in tcp 22 10.0.0.1/32"}},
      {2, "b", DIRECT, {"in tcp 22 128.0.0.0/1"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 0.0.0.0/2, 64.0.0.0/2; "
             "firewall 'b' (2) allows tcp 22 from 128.0.0.0/1",
     "pass", NULL},
    {"small pieces that add up are named", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 10.0.0.0/10 10.64.0.0/10", "in tcp 22 203.0.113.7/32"}},
      {2, "b", DIRECT, {"in tcp 22 10.128.0.0/9 10.200.0.1/32"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 10.0.0.0/10, 10.64.0.0/10; "
             "firewall 'b' (2) allows tcp 22 from 10.128.0.0/9, 10.200.0.1/32",
     "pass", NULL},
    {"a broad source and, elsewhere, pieces that add up", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 10.0.0.0/8 10.1.0.0/16", "in tcp 22 12.0.0.0/9"}},
      {2, "b", DIRECT, {"in tcp 22 12.128.0.0/9"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 10.0.0.0/8; "
             "firewall 'a' (1) allows tcp 22 from 12.0.0.0/9; "
             "firewall 'b' (2) allows tcp 22 from 12.128.0.0/9",
     "pass", NULL},
    {"only the broad source is named", PUB, NULL,
     {{1, "a", DIRECT, {"in tcp 22 10.0.0.1/32 0.0.0.0/0"}},
      {2, "b", DIRECT, {"in tcp 22 10.1.0.0/16"}}},
     "fail", "firewall 'a' (1) allows tcp 22 from 0.0.0.0/0", "pass", NULL},
    {"a /8", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 10.0.0.0/8"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 10.0.0.0/8", "pass", NULL},
    {"a /8 with host bits set", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 10.1.2.3/8"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 10.1.2.3/8", "pass", NULL},
    {"a /9", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 10.0.0.0/9"}}},
     "pass", NULL, "pass", NULL},
    {"two adjacent /9s", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 22 10.0.0.0/9", "in tcp 22 10.128.0.0/9"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 10.0.0.0/9; "
             "firewall 'edge' (38) allows tcp 22 from 10.128.0.0/9",
     "pass", NULL},
    {"two non-adjacent /9s", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 22 10.0.0.0/9 12.128.0.0/9"}}},
     "pass", NULL, "pass", NULL},
    {"an IPv6 /32", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 2001:db8::/32"}}},
     "fail", "firewall 'edge' (38) allows tcp 22 from 2001:db8::/32", "pass", NULL},
    {"an IPv6 /33", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 2001:db8::/33"}}},
     "pass", NULL, "pass", NULL},
    {"a /32 office address", PUB, NULL,
     {{38, "edge", DIRECT,
       {"in tcp 22 203.0.113.7/32 2001:db8:ffff::/48", "in tcp 80 0.0.0.0/0 ::/0"}}},
     "pass", NULL, "pass", NULL},
    {"a pending firewall opens SSH beside an applied one that does not", PUB, NULL,
     {{1, "office", DIRECT, {"in tcp 22 203.0.113.7/32"}}, {5, "open", PENDING, {WORLD}}},
     "fail", "pending firewall 'open' (5) allows tcp 22 from 0.0.0.0/0, ::/0", "pass", NULL},
    {"an applied_to-only firewall opens SSH beside an applied one", PUB, NULL,
     {{1, "office", DIRECT, {"in tcp 22 203.0.113.7/32"}}, {5, "open", APPLIED_TO_ONLY, {WORLD}}},
     "fail", "pending firewall 'open' (5) allows tcp 22 from 0.0.0.0/0, ::/0", "pass", NULL},
    {"an unbound firewall does not count", PUB, NULL,
     {{1, "office", DIRECT, {"in tcp 22 203.0.113.7/32"}}, {5, "open", NOT_BOUND, {WORLD}}},
     "pass", NULL, "pass", NULL},
    {"malformed CIDR", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 203.0.113.7/32 10.0.0.300/8"}}},
     "error", "firewall 'edge' (38) allows tcp 22 from '10.0.0.300/8', which is not a valid CIDR",
     "pass", NULL},
    {"empty source", PUB, NULL, {{38, "edge", DIRECT, {"in tcp 22 ''"}}},
     "error", "firewall 'edge' (38) allows tcp 22 from '', which is not a valid CIDR",
     "pass", NULL},
    {"malformed CIDR beside the whole internet", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 22 bogus"}}, {39, "open", DIRECT, {"in tcp 22 0.0.0.0/0"}}},
     "fail", "firewall 'open' (39) allows tcp 22 from 0.0.0.0/0", "pass", NULL},
    {"malformed CIDR in a udp rule is not parsed", PUB, NULL,
     {{38, "edge", DIRECT, {"in udp 22 bogus"}}},
     "pass", NULL, "pass", NULL},
    {"malformed CIDR in a rule for port 80 is not parsed", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 80 bogus"}}}, "pass", NULL, "pass", NULL},
    {"malformed CIDR in an outbound rule is not parsed", PUB, NULL,
     {{38, "edge", DIRECT, {"out tcp 22 bogus"}}}, "pass", NULL, "pass", NULL},
    {"port that does not parse", PUB, NULL, {{38, "edge", DIRECT, {"in tcp ssh 0.0.0.0/0"}}},
     "error", "firewall 'edge' (38) has an inbound tcp rule whose port 'ssh' does not parse",
     "pass", NULL},
    {"two problems in one reason", PUB, NULL,
     {{38, "edge", DIRECT, {"in tcp 30-20 10.0.0.0/24", "in tcp 22 1.2.3.4/33"}}},
     "error", "firewall 'edge' (38) has an inbound tcp rule whose port '30-20' does not parse; "
              "firewall 'edge' (38) allows tcp 22 from '1.2.3.4/33', which is not a valid CIDR",
     "pass", NULL},
    {"applied firewall missing from the data", PUB, NULL, {{77, NULL, UNREAD, {NULL}}},
     "error", "firewall 77 is bound to the server but was not read", "pass", NULL},
};

static void build_fw_case(struct fx *f, const struct fw_case *c)
{
    const int64_t sid = 4711;
    size_t s = server(f, sid, "web-1", c->ipv4, c->ipv6);
    if (c->ssh_port)
        label(f, &SRV(f, s)->labels, "ssh-port", c->ssh_port);
    for (size_t i = 0; i < 3 && c->fw[i].id; i++) {
        const struct fw_spec *w = &c->fw[i];
        if (w->how == DIRECT || w->how == SELECTOR || w->how == UNREAD)
            bind(f, s, w->id, SLATE_FW_APPLIED);
        else if (w->how == PENDING)
            bind(f, s, w->id, SLATE_FW_PENDING);
        if (w->how == UNREAD || (w->how == PENDING && !w->name))
            continue;
        size_t fi = firewall(f, w->id, w->name);
        if (w->how == SELECTOR || w->how == APPLIED_TO_ONLY)
            reaches(f, fi, sid);
        for (size_t r = 0; r < 4 && w->rules[r]; r++)
            rule(f, fi, w->rules[r]);
    }
}

static void check_one(const struct fw_case *c, const char *test, const char *want_status,
                      const char *want_reason, const struct slate_check_result *r)
{
    const char *list;
    const struct slate_finding *x = only(r, &list);
    bool ok = strcmp(status(r), want_status) == 0;
    if (want_reason) {
        ok = ok && x && strcmp(x->reason, want_reason) == 0 &&
             strcmp(x->resource, "hetzner:hz-prod:server:4711") == 0 &&
             strcmp(x->name, "web-1") == 0;
        /* The list matches the status. */
        const char *want_list = strcmp(want_status, "fail") == 0    ? "failing"
                                : strcmp(want_status, "error") == 0 ? "errors"
                                                                    : "not_applicable";
        ok = ok && strcmp(list, want_list) == 0;
    } else {
        ok = ok && !x && r->failing.n + r->errors.n + r->not_applicable.n == 0;
    }
    bool applies = strcmp(want_status, "not_applicable") != 0;
    ok = ok && r->checked == (applies ? 1 : 0);
    if (!ok) {
        fprintf(stderr, "case '%s', %s:\n  got      %s [%s] %s (checked %ld)\n"
                        "  expected %s %s\n", c->name, test, status(r), list,
                x ? x->reason : "(no single finding)", r->checked, want_status,
                want_reason ? want_reason : "(no finding)");
        unit_failures++;
    }
}

TEST(ssh_not_public_table)
{
    for (size_t i = 0; i < sizeof fw_cases / sizeof fw_cases[0]; i++) {
        struct fx f;
        fx_init(&f);
        build_fw_case(&f, &fw_cases[i]);
        check_one(&fw_cases[i], "ssh_not_public", fw_cases[i].ssh_status,
                  fw_cases[i].ssh_reason, run(&f, "hetzner.ssh_not_public"));
        fx_free(&f);
    }
}

TEST(servers_firewalled_table)
{
    for (size_t i = 0; i < sizeof fw_cases / sizeof fw_cases[0]; i++) {
        struct fx f;
        fx_init(&f);
        build_fw_case(&f, &fw_cases[i]);
        check_one(&fw_cases[i], "servers_firewalled", fw_cases[i].fw_status,
                  fw_cases[i].fw_reason, run(&f, "hetzner.servers_firewalled"));
        fx_free(&f);
    }
}

TEST(ssh_not_public_broad_prefix_is_configurable)
{
    struct fx f;
    fx_init(&f);
    size_t s = server(&f, 1, "a", "203.0.113.1", NULL);
    bind(&f, s, 9, SLATE_FW_APPLIED);
    size_t fi = firewall(&f, 9, "corp");
    rule(&f, fi, "in tcp 22 172.16.0.0/16 2001:db8::/48");
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "pass");
    f.cfg.ipv4_broad_prefix = 16;
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "fail");
    CHECK_STR(f.res.failing.v[0].reason, "firewall 'corp' (9) allows tcp 22 from 172.16.0.0/16");
    f.cfg.ipv4_broad_prefix = 8;
    f.cfg.ipv6_broad_prefix = 48;
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "fail");
    CHECK_STR(f.res.failing.v[0].reason, "firewall 'corp' (9) allows tcp 22 from 2001:db8::/48");
    /* NULL cfg: the defaults. */
    f.in.cfg = NULL;
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "pass");
    fx_free(&f);
}

TEST(ssh_not_public_many_rules_reason_is_bounded)
{
    struct fx f;
    fx_init(&f);
    size_t s = server(&f, 1, "a", "203.0.113.1", NULL);
    bind(&f, s, 9, SLATE_FW_APPLIED);
    size_t fi = firewall(&f, 9, "many");
    /* 16 /12s adjacent: one /8, named by 16 rules; 8 are named, "and 8 more". */
    for (int k = 0; k < 16; k++) {
        char spec[64];
        snprintf(spec, sizeof spec, "in tcp 22 10.%d.0.0/12", k * 16);
        rule(&f, fi, spec);
    }
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "fail");
    const char *reason = f.res.failing.v[0].reason;
    CHECK(strncmp(reason, "firewall 'many' (9) allows tcp 22 from 10.0.0.0/12; ", 52) == 0);
    CHECK(strstr(reason, "10.112.0.0/12; and 8 more") != NULL);
    CHECK(strstr(reason, "10.128.0.0/12") == NULL);
    fx_free(&f);
}

TEST(ssh_not_public_many_sources_reason_is_bounded)
{
    struct fx f;
    fx_init(&f);
    size_t s = server(&f, 1, "a", "203.0.113.1", NULL);
    bind(&f, s, 9, SLATE_FW_APPLIED);
    size_t fi = firewall(&f, 9, "many");
    /* One rule with 16 adjacent /12s (one /8), then a rule with 2 /9s. */
    char spec[512] = "in tcp 22";
    for (int k = 0; k < 16; k++)
        snprintf(spec + strlen(spec), sizeof spec - strlen(spec), " 10.%d.0.0/12", k * 16);
    rule(&f, fi, spec);
    rule(&f, fi, "in tcp 22 11.0.0.0/9 11.128.0.0/9");
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "fail");
    CHECK_STR(f.res.failing.v[0].reason,
              "firewall 'many' (9) allows tcp 22 from 10.0.0.0/12, 10.16.0.0/12, 10.32.0.0/12, "
              "10.48.0.0/12, 10.64.0.0/12, 10.80.0.0/12, 10.96.0.0/12, 10.112.0.0/12, and 8 more; "
              "firewall 'many' (9) allows tcp 22 from 11.0.0.0/9, 11.128.0.0/9");
    fx_free(&f);
}

TEST(ssh_not_public_long_malformed_source_is_cut)
{
    struct fx f;
    fx_init(&f);
    size_t s = server(&f, 1, "a", "203.0.113.1", NULL);
    bind(&f, s, 9, SLATE_FW_APPLIED);
    size_t fi = firewall(&f, 9, "x");
    char spec[300] = "in tcp 22 ";
    memset(spec + 10, '9', 200);
    spec[210] = '\0';
    rule(&f, fi, spec);
    CHECK_STR(status(run(&f, "hetzner.ssh_not_public")), "error");
    CHECK_STR(f.res.errors.v[0].reason,
              "firewall 'x' (9) allows tcp 22 from "
              "'9999999999999999999999999999999999999999999999999999999999999999...', "
              "which is not a valid CIDR");
    fx_free(&f);
}

/* Several servers in one project: the lists and `checked` add up. */
TEST(firewall_tests_over_several_servers)
{
    struct fx f;
    fx_init(&f);
    size_t a = server(&f, 1, "web-1", "203.0.113.1", NULL);
    size_t b = server(&f, 2, "web-2", "203.0.113.2", NULL);
    server(&f, 3, "db-1", NULL, NULL);
    size_t d = server(&f, 4, "web-3", "203.0.113.4", NULL);
    bind(&f, a, 38, SLATE_FW_APPLIED);
    bind(&f, b, 38, SLATE_FW_APPLIED);
    bind(&f, b, 39, SLATE_FW_APPLIED);
    (void)d;
    size_t f38 = firewall(&f, 38, "office");
    rule(&f, f38, "in tcp 22 203.0.113.0/24");
    size_t f39 = firewall(&f, 39, "edge");
    rule(&f, f39, "in tcp 20-30 0.0.0.0/0");
    const struct slate_check_result *r = run(&f, "hetzner.ssh_not_public");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 3);
    REQUIRE(r->failing.n == 2);
    CHECK_STR(r->failing.v[0].resource, "hetzner:hz-prod:server:2");
    CHECK_STR(r->failing.v[0].reason, "firewall 'edge' (39) allows tcp 20-30 from 0.0.0.0/0");
    CHECK_STR(r->failing.v[1].resource, "hetzner:hz-prod:server:4");
    CHECK_STR(r->failing.v[1].reason, "no firewall applied");
    REQUIRE(r->not_applicable.n == 1);
    CHECK_STR(r->not_applicable.v[0].name, "db-1");
    CHECK_INT(r->errors.n, 0);

    r = run(&f, "hetzner.servers_firewalled");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 3);
    REQUIRE(r->failing.n == 1);
    CHECK_STR(r->failing.v[0].name, "web-3");
    CHECK_INT(r->not_applicable.n, 1);
    fx_free(&f);
}

/* A fail on one server outranks an error on another. */
TEST(fail_outranks_error)
{
    struct fx f;
    fx_init(&f);
    size_t a = server(&f, 1, "a", "203.0.113.1", NULL);
    server(&f, 2, "b", "203.0.113.2", NULL);
    bind(&f, a, 9, SLATE_FW_APPLIED);
    rule(&f, firewall(&f, 9, "x"), "in tcp 22 nonsense");
    const struct slate_check_result *r = run(&f, "hetzner.ssh_not_public");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->failing.n, 1);
    CHECK_INT(r->errors.n, 1);
    CHECK_INT(r->checked, 2);
    fx_free(&f);
}

TEST(firewall_tests_all_private_or_no_servers)
{
    struct fx f;
    fx_init(&f);
    server(&f, 1, "db-1", NULL, NULL);
    server(&f, 2, "db-2", "", "");
    const char *tests[] = {"hetzner.servers_firewalled", "hetzner.ssh_not_public"};
    for (int t = 0; t < 2; t++) {
        const struct slate_check_result *r = run(&f, tests[t]);
        CHECK_STR(status(r), "not_applicable");
        CHECK_INT(r->checked, 0);
        CHECK_INT(r->not_applicable.n, 2);
        CHECK_STR(r->not_applicable.v[1].reason, "no public IPv4 or IPv6");
    }
    fx_free(&f);

    fx_init(&f);
    const char *all[] = {"inventory.active_owners", "inventory.descriptions",
                         "hetzner.servers_firewalled", "hetzner.ssh_not_public"};
    for (int t = 0; t < 4; t++) {
        const struct slate_check_result *r = run(&f, all[t]);
        CHECK_STR(status(r), "not_applicable");
        CHECK_INT(r->checked, 0);
        CHECK_INT(r->failing.n + r->errors.n + r->not_applicable.n, 0);
    }
    fx_free(&f);
}

/* ---- inventory.active_owners ------------------------------------------------ */

struct owner_case {
    const char *name;
    const char *hash;         /* asset_owners value; NULL: no key */
    const char *label;        /* owner label; NULL: no label */
    const char *status;
    const char *reason;
};

TEST(active_owners_table)
{
    const struct owner_case cases[] = {
        {"from the hash", "jane@example.com", NULL, "pass", NULL},
        {"from the label", NULL, "jane.doe", "pass", NULL},
        {"the hash wins over the label", "jane@example.com", "bob", "pass", NULL},
        {"the hash wins even when inactive", "eve@example.com", "jane.doe", "fail",
         "owner 'eve@example.com' is not an active member"},
        {"inactive label owner", NULL, "bob", "fail", "owner 'bob' is not an active member"},
        {"case matters", NULL, "Jane.Doe", "fail", "owner 'Jane.Doe' is not an active member"},
        {"missing", NULL, NULL, "fail", "no owner"},
        {"empty label", NULL, "", "fail", "no owner"},
        {"empty hash value does not fall back", "", "jane.doe", "fail", "no owner"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct owner_case *c = &cases[i];
        struct fx f;
        fx_init(&f);
        member(&f, "jane.doe");
        member(&f, "jane@example.com");
        size_t s = server(&f, 4711, "web-1", "203.0.113.1", NULL);
        label(&f, &SRV(&f, s)->labels, "env", "prod");
        if (c->label)
            label(&f, &SRV(&f, s)->labels, "owner", c->label);
        if (c->hash)
            owner(&f, 4711, c->hash);
        const struct slate_check_result *r = run(&f, "inventory.active_owners");
        const char *list;
        const struct slate_finding *x = only(r, &list);
        bool ok = strcmp(status(r), c->status) == 0 && r->checked == 1 &&
                  (c->reason ? x && strcmp(list, "failing") == 0 &&
                                   strcmp(x->reason, c->reason) == 0 &&
                                   strcmp(x->resource, "hetzner:hz-prod:server:4711") == 0
                             : x == NULL);
        if (!ok) {
            fprintf(stderr, "owner case '%s': got %s %s\n", c->name, status(r),
                    x ? x->reason : "(no single finding)");
            unit_failures++;
        }
        fx_free(&f);
    }
}

TEST(active_owners_other_servers_and_no_members)
{
    struct fx f;
    fx_init(&f);
    server(&f, 1, "a", NULL, NULL);
    size_t b = server(&f, 2, "b", NULL, NULL);
    label(&f, &SRV(&f, b)->labels, "owner", "jane.doe");
    owner(&f, 1, "jane.doe");
    /* Another integration's asset with the same server id is not ours. */
    f.owner_v[f.owners.n++] =
        (struct slate_strmap_entry){S(&f, "hetzner:other:server:2"), S(&f, "x")};
    f.in.members = NULL;   /* nobody is active */
    const struct slate_check_result *r = run(&f, "inventory.active_owners");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 2);
    REQUIRE(r->failing.n == 2);
    CHECK_STR(r->failing.v[0].reason, "owner 'jane.doe' is not an active member");
    CHECK_STR(r->failing.v[1].reason, "owner 'jane.doe' is not an active member");
    member(&f, "jane.doe");
    f.in.members = &f.members;
    f.in.owners = NULL;    /* no hash: the labels */
    r = run(&f, "inventory.active_owners");
    CHECK_STR(status(r), "fail");
    REQUIRE(r->failing.n == 1);
    CHECK_STR(r->failing.v[0].name, "a");
    CHECK_STR(r->failing.v[0].reason, "no owner");
    fx_free(&f);
}

/* ---- inventory.descriptions ------------------------------------------------- */

TEST(descriptions_table)
{
    struct {
        const char *name, *type, *label;
        const char *status;
    } cases[] = {
        {"web-1", NULL, NULL, "pass"},
        {NULL, "cx22", NULL, "pass"},
        {"", NULL, "role", "pass"},
        {"", "", NULL, "fail"},
        {NULL, NULL, NULL, "fail"},
        {"web-1", "cx22", "role", "pass"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx f;
        fx_init(&f);
        size_t s = server(&f, 7, cases[i].name, NULL, NULL);
        SRV(&f, s)->server_type = S(&f, cases[i].type);
        if (cases[i].label)
            label(&f, &SRV(&f, s)->labels, cases[i].label, "web");
        const struct slate_check_result *r = run(&f, "inventory.descriptions");
        if (strcmp(status(r), cases[i].status) != 0)
            fprintf(stderr, "descriptions case %zu: %s\n", i, status(r));
        CHECK_STR(status(r), cases[i].status);
        CHECK_INT(r->checked, 1);
        if (strcmp(cases[i].status, "fail") == 0) {
            REQUIRE(r->failing.n == 1);
            CHECK_STR(r->failing.v[0].reason, "no name, labels or instance type");
            CHECK_STR(r->failing.v[0].resource, "hetzner:hz-prod:server:7");
            CHECK_STR(r->failing.v[0].name, "");
        }
        fx_free(&f);
    }
}

/* ---- hetzner.ssh_keys_inventoried ------------------------------------------- */

TEST(ssh_keys_inventoried)
{
    struct fx f;
    fx_init(&f);
    server(&f, 1, "web-1", "203.0.113.1", NULL);
    key(&f, 10, "laptop", "b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f");
    key(&f, 11, "ci", "c1:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f");
    const struct slate_check_result *r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "pass");
    CHECK_INT(r->checked, 1); /* integration-level: the integration */
    key(&f, 12, "", "d1:2f");
    key(&f, 13, "nofp", NULL);
    key(&f, 14, NULL, "");
    r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 1);
    REQUIRE(r->failing.n == 3);
    CHECK_STR(r->failing.v[0].resource, "hetzner:hz-prod:ssh_key:12");
    CHECK_STR(r->failing.v[0].reason, "no name");
    CHECK_STR(r->failing.v[1].name, "nofp");
    CHECK_STR(r->failing.v[1].reason, "no fingerprint");
    CHECK_STR(r->failing.v[2].name, "");
    CHECK_STR(r->failing.v[2].reason, "no name and no fingerprint");
    /* Keys read completely do not need the servers read completely. */
    f.st.servers_complete = false;
    CHECK_STR(status(run(&f, "hetzner.ssh_keys_inventoried")), "fail");
    f.st.ssh_keys_complete = false;
    r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "error");
    CHECK_INT(r->checked, 0);
    REQUIRE(r->errors.n == 1);
    CHECK_STR(r->errors.v[0].resource, "hetzner:hz-prod");
    CHECK_STR(r->errors.v[0].reason,
              "the last successful sync did not read the SSH keys completely");
    fx_free(&f);
}

TEST(ssh_keys_servers_but_no_keys)
{
    struct fx f;
    fx_init(&f);
    server(&f, 1, "web-1", NULL, NULL);
    server(&f, 2, "web-2", NULL, NULL);
    const struct slate_check_result *r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 1);
    REQUIRE(r->failing.n == 1);
    CHECK_STR(r->failing.v[0].resource, "hetzner:hz-prod");
    CHECK_STR(r->failing.v[0].name, "hz-prod");
    CHECK_STR(r->failing.v[0].reason, "the project has 2 servers but no SSH keys");
    /* Servers seen, though not all read: still servers and no keys. */
    f.st.servers_complete = false;
    CHECK_STR(status(run(&f, "hetzner.ssh_keys_inventoried")), "fail");
    fx_free(&f);
}

TEST(ssh_keys_empty_project)
{
    struct fx f;
    fx_init(&f);
    const struct slate_check_result *r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "pass");
    CHECK_INT(r->checked, 1);
    CHECK_INT(r->failing.n + r->errors.n + r->not_applicable.n, 0);
    /* No servers read, and the servers not read completely: undecided. */
    f.st.servers_complete = false;
    r = run(&f, "hetzner.ssh_keys_inventoried");
    CHECK_STR(status(r), "error");
    REQUIRE(r->errors.n == 1);
    CHECK_STR(r->errors.v[0].reason,
              "the last successful sync did not read the servers completely");
    fx_free(&f);
}

/* ---- hetzner.cloud_linked and data freshness -------------------------------- */

TEST(cloud_linked_pass_and_failures)
{
    struct fx f;
    fx_init(&f);
    const struct slate_check_result *r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(status(r), "pass");
    CHECK_INT(r->checked, 1);

    /* Invalid token: fails at once, while the data is fresh. */
    f.st.status = "error";
    f.st.last_error_code = "invalid_token";
    f.st.last_error = "Invalid API token";
    r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(status(r), "fail");
    CHECK_INT(r->checked, 1);
    REQUIRE(r->failing.n == 1);
    CHECK_STR(r->failing.v[0].resource, "hetzner:hz-prod");
    CHECK_STR(r->failing.v[0].name, "hz-prod");
    CHECK_STR(r->failing.v[0].reason, "the last sync failed (invalid_token): Invalid API token");

    /* Forbidden without a sentence: the error table's. */
    f.st.last_error_code = "forbidden";
    f.st.last_error = NULL;
    r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(r->failing.v[0].reason,
              "the last sync failed (forbidden): "
              "The API token is not allowed to read this project");
    f.st.last_error_code = NULL;
    r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(r->failing.v[0].reason, "the last sync failed");
    f.st.last_error_code = "weird";
    f.st.last_error = "";
    r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(r->failing.v[0].reason, "the last sync failed (weird)");

    /* ... and stale on top: both reasons. */
    f.st.last_error_code = "hetzner_unavailable";
    f.st.last_error = "The Hetzner Cloud API is unavailable";
    f.st.last_success_ms = NOW - 25 * HOUR;
    r = run(&f, "hetzner.cloud_linked");
    CHECK_STR(r->failing.v[0].reason,
              "the last sync failed (hetzner_unavailable): The Hetzner Cloud API is unavailable; "
              "the last successful sync, at 2026-12-03T18:40:00Z, is older than 24 h");
    fx_free(&f);
}

TEST(cloud_linked_sync_state)
{
    struct fx f;
    fx_init(&f);
    f.st.last_success_ms = NOW - 86400 * 1000LL;    /* exactly the window: fresh */
    CHECK_STR(status(run(&f, "hetzner.cloud_linked")), "pass");
    f.st.last_success_ms--;
    CHECK_STR(status(run(&f, "hetzner.cloud_linked")), "fail");
    CHECK_STR(f.res.failing.v[0].reason,
              "the last successful sync, at 2026-12-03T19:39:59Z, is older than 24 h");
    f.cfg.freshness_s = 5400;
    f.st.last_success_ms = NOW - 2 * HOUR;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(f.res.failing.v[0].reason,
              "the last successful sync, at 2026-12-04T17:40:00Z, is older than 90 min");
    f.cfg.freshness_s = 86400;

    f.st.last_success_ms = NOW - HOUR;
    f.st.firewalls_complete = false;
    f.st.ssh_keys_complete = false;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(status(&f.res), "fail");
    CHECK_STR(f.res.failing.v[0].reason,
              "the last successful sync did not read the SSH keys and the firewalls completely");
    f.st.servers_complete = false;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(f.res.failing.v[0].reason,
              "the last successful sync did not read the servers, the SSH keys and the firewalls "
              "completely");
    f.st.servers_complete = f.st.firewalls_complete = f.st.ssh_keys_complete = true;

    f.st.last_success_ms = 0;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(f.res.failing.v[0].reason, "no successful sync yet");
    f.st.last_success_ms = NOW - HOUR;
    f.in.inv = NULL;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(f.res.failing.v[0].reason, "no successful sync yet");
    f.in.inv = &f.inv;

    f.st.connected = false;
    f.st.status = "error";
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(status(&f.res), "fail");
    CHECK_STR(f.res.failing.v[0].reason, "the integration is not connected");
    f.in.sync = NULL;
    run(&f, "hetzner.cloud_linked");
    CHECK_STR(f.res.failing.v[0].reason, "the integration is not connected");
    fx_free(&f);
}

/* A project whose servers would pass every test, for the data-state cases. */
static void healthy_project(struct fx *f)
{
    member(f, "jane.doe");
    size_t s = server(f, 1, "web-1", "203.0.113.1", NULL);
    label(f, &SRV(f, s)->labels, "owner", "jane.doe");
    bind(f, s, 9, SLATE_FW_APPLIED);
    rule(f, firewall(f, 9, "office"), "in tcp 22 203.0.113.7/32");
    key(f, 10, "laptop", "b7:2f");
}

struct data_case {
    const char *name;
    void (*change)(struct fx *f);
    const char *reason;              /* of the tests over the data; NULL: they judge */
    const char *cloud_linked;        /* its status */
};

static void stale(struct fx *f) { f->st.last_success_ms = NOW - 48 * HOUR; }
static void never(struct fx *f) { f->st.last_success_ms = 0; }
static void no_inventory(struct fx *f) { f->in.inv = NULL; }
static void disconnected(struct fx *f) { f->st.connected = false; }
static void failed_fresh(struct fx *f)
{
    f->st.status = "error";
    f->st.last_error_code = "rate_limited";
    f->st.last_error = "The project's Hetzner API rate limit is exhausted";
}
static void failed_stale(struct fx *f) { failed_fresh(f); stale(f); }
static void in_future(struct fx *f) { f->st.last_success_ms = NOW + HOUR; }

TEST(data_state_for_every_test)
{
    const struct data_case cases[] = {
        {"fresh", NULL, NULL, "pass"},
        {"last success in the future (clock skew)", in_future, NULL, "pass"},
        {"stale", stale,
         "the last successful sync, at 2026-12-02T19:40:00Z, is older than 24 h", "fail"},
        {"never synced", never, "no successful sync yet", "fail"},
        {"nothing stored", no_inventory, "no successful sync yet", "fail"},
        {"not connected", disconnected, "the integration is not connected", "fail"},
        {"failed last sync with fresh data", failed_fresh, NULL, "fail"},
        {"failed last sync with stale data", failed_stale,
         "the last successful sync, at 2026-12-02T19:40:00Z, is older than 24 h", "fail"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct data_case *c = &cases[i];
        struct fx f;
        fx_init(&f);
        healthy_project(&f);
        if (c->change)
            c->change(&f);
        for (size_t t = 0; t < slate_n_checks; t++) {
            const struct slate_check_result *r = run(&f, slate_checks[t].id);
            bool linked = t == 0;
            const char *want = linked ? c->cloud_linked : c->reason ? "error" : "pass";
            bool ok = strcmp(status(r), want) == 0;
            if (!linked && c->reason) {
                ok = ok && r->checked == 0 && r->errors.n == 1 && r->failing.n == 0 &&
                     strcmp(r->errors.v[0].resource, "hetzner:hz-prod") == 0 &&
                     strcmp(r->errors.v[0].name, "hz-prod") == 0 &&
                     strcmp(r->errors.v[0].reason, c->reason) == 0;
            }
            if (!ok) {
                fprintf(stderr, "data case '%s', %s: got %s (%s)\n", c->name, slate_checks[t].id,
                        status(r), r->errors.n ? r->errors.v[0].reason : "");
                unit_failures++;
            }
        }
        fx_free(&f);
    }
}

TEST(incomplete_collection_is_never_no_resources)
{
    struct {
        const char *id;
        int collection;    /* 0 servers, 1 keys, 2 firewalls */
        const char *status;
    } cases[] = {
        {"inventory.active_owners", 0, "error"},
        {"inventory.descriptions", 0, "error"},
        {"hetzner.servers_firewalled", 0, "error"},
        {"hetzner.ssh_not_public", 0, "error"},
        {"hetzner.ssh_not_public", 2, "error"},
        {"hetzner.ssh_keys_inventoried", 1, "error"},
        /* A test that does not read the collection still judges. */
        {"inventory.active_owners", 2, "not_applicable"},
        {"hetzner.servers_firewalled", 2, "not_applicable"},
        {"hetzner.servers_firewalled", 1, "not_applicable"},
        {"hetzner.ssh_not_public", 1, "not_applicable"},
        {"hetzner.ssh_keys_inventoried", 2, "pass"},
        {"hetzner.cloud_linked", 2, "fail"},
    };
    const char *what[] = {"servers", "SSH keys", "firewalls"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx f;
        fx_init(&f);   /* an empty project: nothing read would look like nothing there */
        bool *flag[] = {&f.st.servers_complete, &f.st.ssh_keys_complete, &f.st.firewalls_complete};
        *flag[cases[i].collection] = false;
        const struct slate_check_result *r = run(&f, cases[i].id);
        if (strcmp(status(r), cases[i].status) != 0)
            fprintf(stderr, "incomplete %s, %s: %s\n", what[cases[i].collection], cases[i].id,
                    status(r));
        CHECK_STR(status(r), cases[i].status);
        if (strcmp(cases[i].status, "error") == 0) {
            REQUIRE(r->errors.n == 1);
            char want[128];
            snprintf(want, sizeof want, "the last successful sync did not read the %s completely",
                     what[cases[i].collection]);
            CHECK_STR(r->errors.v[0].reason, want);
        }
        fx_free(&f);
    }
}

/* ---- JSON ------------------------------------------------------------------- */

TEST(result_json_byte_for_byte)
{
    struct fx f;
    fx_init(&f);
    size_t s = server(&f, 4711, "web-1", "203.0.113.1", NULL);
    bind(&f, s, 38, SLATE_FW_APPLIED);
    rule(&f, firewall(&f, 38, "edge \"main\""), "in tcp 20-30 0.0.0.0/0");
    server(&f, 4712, "db-1", NULL, NULL);
    const struct slate_check_result *r = run(&f, "hetzner.ssh_not_public");
    struct slate_buf b;
    slate_buf_init(&b);
    slate_check_result_json(r, NOW, &b);
    CHECK_STR(b.data,
              "{\"id\":\"hetzner.ssh_not_public\","
              "\"title\":\"Hetzner SSH access is not open to the public internet\","
              "\"status\":\"fail\",\"evaluated_at\":\"2026-12-04T19:40:00Z\",\"checked\":1,"
              "\"failing\":[{\"resource\":\"hetzner:hz-prod:server:4711\",\"name\":\"web-1\","
              "\"reason\":\"firewall 'edge \\\"main\\\"' (38) allows tcp 20-30 from 0.0.0.0/0\"}],"
              "\"not_applicable\":[{\"resource\":\"hetzner:hz-prod:server:4712\",\"name\":\"db-1\","
              "\"reason\":\"no public IPv4 or IPv6\"}],"
              "\"errors\":[],"
              "\"controls\":{\"iso27001_2022\":[\"A.8.20\",\"A.8.5\"],"
              "\"soc2\":[\"CC6.6\",\"CC6.1\"]},"
              "\"remediation\":\"Restrict the inbound tcp rules that reach SSH (port 22, or the "
              "server's ssh-port label) to known sources such as an office, VPN or bastion host, "
              "and apply a firewall to every server with a public IP address.\"}");

    /* An empty result appends after what the buffer held. */
    slate_buf_reset(&b);
    slate_buf_puts(&b, "x");
    fx_free(&f);
    fx_init(&f);
    r = run(&f, "inventory.descriptions");
    slate_check_result_json(r, 0, &b);
    CHECK_STR(b.data,
              "x{\"id\":\"inventory.descriptions\","
              "\"title\":\"Inventory items have descriptions (name, labels, or instance type)\","
              "\"status\":\"not_applicable\",\"evaluated_at\":\"1970-01-01T00:00:00Z\","
              "\"checked\":0,\"failing\":[],\"not_applicable\":[],\"errors\":[],"
              "\"controls\":{\"iso27001_2022\":[\"A.5.9\"],\"soc2\":[\"CC6.1\"]},"
              "\"remediation\":\"Give every server a descriptive name or labels (for example its "
              "role and environment) in Hetzner Cloud, so that it can be identified in the "
              "inventory.\"}");
    slate_buf_free(&b);
    fx_free(&f);
}

UNIT_MAIN()
