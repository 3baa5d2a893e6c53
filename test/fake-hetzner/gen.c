/*
 * gen.c - the generated data set of a project.
 *
 * Every item is a pure function of (spec, version, model index), rendered
 * here without any stored state; cache.c keeps each rendering for later
 * requests, so every item is rendered about once per version.  The README
 * documents the layout below; tests rely on it, so keep the two in step.
 *
 * Model indexes.  Servers have index i, SSH keys j, firewalls k.
 *   version 1: servers i in [0, N), keys j in [0, K), firewalls k in [0, F).
 *   version 2: servers i in [R, N + A)  (R = v2_remove, A = v2_add),
 *              servers i in [R, R + C) are "changed" (C = v2_change),
 *              keys j in [min(1, K), K + 1), firewall 0 gains one rule.
 * Ids: server id_base + 1 + i, key id_base + 600001 + j,
 *      firewall id_base + 800001 + k.  Lists are in ascending id order.
 *
 * Server classes by v1 index, as blocks at the end of [0, N):
 *   [N-P, N)            private: ipv4 and ipv6 null, no firewall
 *   [N-P-U, N-P)        unbound: public, no firewall
 *   [.. - PD, N-P-U)    pending: firewall binding status "pending"
 *   [.. - Q, ..)        ipv6 only: ipv4 null
 *   everything else     public, bound (if firewalls exist and bind != none)
 * A bound server's primary firewall is k = i % F: direct for bind=direct,
 * label selector "fw=fw-<k>" for bind=selector, and for bind=mixed direct
 * when k is even, selector when odd, plus a second, direct binding to
 * (k + 1) % F when i % 7 == 0 (F > 1).
 */
#include "fake.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_ID_OFFSET 600001
#define FW_ID_OFFSET 800001
#define CREATED_BASE 1609459200     /* 2021-01-01T00:00:00Z */
#define CREATED_SPAN (4 * 365 * 86400)

const char *const resource_plural[RES__COUNT] = {
    "servers", "ssh_keys", "firewalls"
};
const char *const resource_singular[RES__COUNT] = {
    "server", "ssh_key", "firewall"
};

/* ------------------------------------------------------------ tables */

struct location {
    int id;
    const char *name, *description, *country, *city, *lat, *lon, *zone;
};

static const struct location locations[] = {
    { 1, "fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", "50.47612",
      "12.370071", "eu-central" },
    { 2, "nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", "49.452102",
      "11.076665", "eu-central" },
    { 3, "hel1", "Helsinki DC Park 1", "FI", "Helsinki", "60.169855",
      "24.938379", "eu-central" },
    { 4, "ash", "Ashburn, VA", "US", "Ashburn, VA", "39.045821",
      "-77.487073", "us-east" },
    { 5, "hil", "Hillsboro, OR", "US", "Hillsboro, OR", "45.54222",
      "-122.95161", "us-west" },
};
#define N_LOCATIONS (sizeof locations / sizeof locations[0])

struct server_type {
    int id;
    const char *name, *description;
    int cores, memory, disk;
    const char *cpu_type, *category, *arch;
    const char *hourly_net, *hourly_gross, *monthly_net, *monthly_gross;
    bool eu_only;
};

static const struct server_type server_types[] = {
    { 104, "cx22", "CX22", 2, 4, 40, "shared", "Shared vCPU", "x86",
      "0.0060", "0.0071", "3.7900", "4.5101", true },
    { 105, "cx32", "CX32", 4, 8, 80, "shared", "Shared vCPU", "x86",
      "0.0110", "0.0131", "6.8000", "8.0920", true },
    { 106, "cx42", "CX42", 8, 16, 160, "shared", "Shared vCPU", "x86",
      "0.0270", "0.0321", "16.4000", "19.5160", true },
    { 22, "cpx11", "CPX11", 2, 2, 40, "shared", "Shared vCPU", "x86",
      "0.0073", "0.0087", "4.5100", "5.3669", false },
    { 23, "cpx21", "CPX21", 3, 4, 80, "shared", "Shared vCPU", "x86",
      "0.0130", "0.0155", "8.0900", "9.6271", false },
    { 24, "cpx31", "CPX31", 4, 8, 160, "shared", "Shared vCPU", "x86",
      "0.0238", "0.0283", "14.8600", "17.6834", false },
    { 45, "cax11", "CAX11", 2, 4, 40, "shared", "Shared vCPU", "arm",
      "0.0064", "0.0076", "3.7900", "4.5101", true },
    { 93, "cax21", "CAX21", 4, 8, 80, "shared", "Shared vCPU", "arm",
      "0.0104", "0.0124", "6.4900", "7.7231", true },
    { 96, "ccx13", "CCX13", 2, 8, 80, "dedicated", "Dedicated vCPU", "x86",
      "0.0224", "0.0267", "13.9900", "16.6481", false },
};
#define N_SERVER_TYPES (sizeof server_types / sizeof server_types[0])

struct image {
    int id;
    const char *name, *description, *flavor, *version;
};

static const struct image images[] = {
    { 161547269, "ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "24.04" },
    { 67794396, "ubuntu-22.04", "Ubuntu 22.04", "ubuntu", "22.04" },
    { 114690387, "debian-12", "Debian 12", "debian", "12" },
    { 76766499, "rocky-9", "Rocky Linux 9", "rocky", "9" },
    { 194475463, "fedora-41", "Fedora 41", "fedora", "41" },
};
#define N_IMAGES (sizeof images / sizeof images[0])

static const char *const roles[] = {
    "web", "api", "db", "cache", "worker", "lb", "ci", "mail"
};
static const char *const persons[] = {
    "jane.doe", "john.smith", "ops-team", "ci-deploy",
    "alice", "bob", "carol", "dave"
};
static const char *const hosts[] = { "laptop", "workstation", "bastion" };

/* Server statuses, weighted: 84 % running, 8 % off, 1 % each other. */
static const char *server_status(uint64_t h)
{
    static const char *const rare[] = {
        "initializing", "starting", "stopping", "deleting",
        "migrating", "rebuilding", "unknown", "running"
    };
    unsigned r = (unsigned)(h % 100);
    if (r < 84)
        return "running";
    if (r < 92)
        return "off";
    return rare[r - 92];
}

/* ---------------------------------------------------- rule shapes */

struct rule {
    const char *direction, *protocol, *port, *description;
    const char *ips[3];     /* source_ips for "in", destination_ips for "out" */
};

#define ANY4 "0.0.0.0/0"
#define ANY6 "::/0"

static const struct rule rules_ssh_open[] = {
    { "in", "tcp", "22", "ssh from anywhere", { ANY4, ANY6, NULL } },
};
static const struct rule rules_ssh_office[] = {
    { "in", "tcp", "22", "ssh from the office", { "203.0.113.7/32", NULL, NULL } },
};
static const struct rule rules_web_only[] = {
    { "in", "tcp", "80", "http", { ANY4, ANY6, NULL } },
    { "in", "tcp", "443", "https", { ANY4, ANY6, NULL } },
    { "in", "icmp", NULL, NULL, { ANY4, ANY6, NULL } },
};
static const struct rule rules_wide_open[] = {
    { "in", "tcp", "any", "everything", { ANY4, ANY6, NULL } },
    { "in", "udp", "1-65535", NULL, { ANY4, ANY6, NULL } },
};
static const struct rule rules_db_internal[] = {
    { "in", "tcp", "5432", "postgres from the private network",
      { "10.0.0.0/16", NULL, NULL } },
    { "in", "udp", "51820", "wireguard", { ANY4, NULL, NULL } },
    { "out", "tcp", "22", "ssh out", { ANY4, ANY6, NULL } },
    { "out", "udp", "53", "dns", { ANY4, ANY6, NULL } },
};
static const struct rule rule_v2_extra = {
    "in", "tcp", "443", "added in v2", { ANY4, ANY6, NULL }
};

struct shape {
    const char *name;       /* as written in the projects file */
    const char *slug;       /* as used in firewall names */
    const struct rule *rules;
    size_t n;
};

static const struct shape shapes[SHAPE__COUNT] = {
    [SHAPE_SSH_OPEN] = { "ssh_open", "ssh-open", rules_ssh_open, 1 },
    [SHAPE_SSH_OFFICE] = { "ssh_office", "ssh-office", rules_ssh_office, 1 },
    [SHAPE_WEB_ONLY] = { "web_only", "web-only", rules_web_only, 3 },
    [SHAPE_WIDE_OPEN] = { "wide_open", "wide-open", rules_wide_open, 2 },
    [SHAPE_DB_INTERNAL] = { "db_internal", "db-internal", rules_db_internal, 4 },
    [SHAPE_NONE] = { "none", "empty", NULL, 0 },
};

bool shape_from_name(const char *s, size_t n, enum rule_shape *out)
{
    for (int i = 0; i < SHAPE__COUNT; i++) {
        if (strlen(shapes[i].name) == n && memcmp(shapes[i].name, s, n) == 0) {
            *out = (enum rule_shape)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------- index mapping */

static long v2_servers_start(const struct gen_spec *g)
{
    return g->v2_remove;
}

static long keys_start(const struct gen_spec *g, int version)
{
    if (version == 1)
        return 0;
    return g->ssh_keys > 0 ? 1 : 0;
}

size_t gen_count(const struct gen_spec *g, int version, enum resource r)
{
    switch (r) {
    case RES_SERVERS:
        if (version == 1)
            return (size_t)g->servers;
        return (size_t)(g->servers + g->v2_add - v2_servers_start(g));
    case RES_SSH_KEYS:
        if (version == 1)
            return (size_t)g->ssh_keys;
        return (size_t)(g->ssh_keys + 1 - keys_start(g, 2));
    case RES_FIREWALLS:
        return (size_t)g->firewalls;
    default:
        return 0;
    }
}

static long model_index(const struct gen_spec *g, int version, enum resource r,
                        size_t idx)
{
    switch (r) {
    case RES_SERVERS:
        return (version == 1 ? 0 : v2_servers_start(g)) + (long)idx;
    case RES_SSH_KEYS:
        return keys_start(g, version) + (long)idx;
    default:
        return (long)idx;
    }
}

long gen_find_id(const struct gen_spec *g, int version, enum resource r,
                 int64_t id)
{
    int64_t off = r == RES_SERVERS ? 1 : r == RES_SSH_KEYS ? KEY_ID_OFFSET
                                                          : FW_ID_OFFSET;
    int64_t m = id - g->id_base - off;
    int64_t start = model_index(g, version, r, 0);
    int64_t n = (int64_t)gen_count(g, version, r);
    if (m < start || m >= start + n)
        return -1;
    return (long)(m - start);
}

static uint64_t item_hash(const struct gen_spec *g, enum resource r, long i)
{
    return mix64(g->seed ^ mix64((uint64_t)i * 4 + (uint64_t)r + 0x5eed));
}

/* ------------------------------------------------------- servers */

enum server_class { SC_NORMAL, SC_IPV6_ONLY, SC_PENDING, SC_UNBOUND, SC_PRIVATE };

static enum server_class server_class(const struct gen_spec *g, long i)
{
    long n = g->servers;
    if (i >= n)
        return SC_NORMAL;       /* added in version 2 */
    long b = n - g->private_n;
    if (i >= b)
        return SC_PRIVATE;
    b -= g->unbound;
    if (i >= b)
        return SC_UNBOUND;
    b -= g->pending;
    if (i >= b)
        return SC_PENDING;
    b -= g->ipv6_only;
    if (i >= b)
        return SC_IPV6_ONLY;
    return SC_NORMAL;
}

struct binding {
    long k;
    bool selector;
};

static bool fw_is_selector(const struct gen_spec *g, long k)
{
    return g->bind == BIND_SELECTOR || (g->bind == BIND_MIXED && k % 2 == 1);
}

/* The firewalls server i is bound to (at most 2). */
static size_t server_bindings(const struct gen_spec *g, long i,
                              struct binding out[2])
{
    enum server_class c = server_class(g, i);
    if (c == SC_PRIVATE || c == SC_UNBOUND || g->firewalls == 0 ||
        g->bind == BIND_NONE)
        return 0;
    long f = g->firewalls;
    long p = i % f;
    size_t n = 0;
    out[n].k = p;
    out[n].selector = fw_is_selector(g, p);
    n++;
    if (g->bind == BIND_MIXED && f > 1 && i % 7 == 0) {
        out[n].k = (p + 1) % f;
        out[n].selector = false;
        n++;
    }
    return n;
}

static bool server_changed(const struct gen_spec *g, int version, long i)
{
    return version == 2 && i >= g->v2_remove &&
           i < g->v2_remove + g->v2_change;
}

struct server_model {
    long i;
    int64_t id;
    char name[160];
    const char *status;
    const char *role;
    enum server_class cls;
    bool changed;
    uint64_t h;
};

static void server_model(const struct project *p, int version, long i,
                         struct server_model *m)
{
    const struct gen_spec *g = &p->gen;
    m->i = i;
    m->id = g->id_base + 1 + i;
    m->h = item_hash(g, RES_SERVERS, i);
    m->role = roles[mix64(m->h + 1) % (sizeof roles / sizeof roles[0])];
    m->cls = server_class(g, i);
    m->changed = server_changed(g, version, i);
    m->status = server_status(mix64(m->h + 2));
    if (i >= g->servers)
        m->status = "running";
    snprintf(m->name, sizeof m->name, "%s-%s-%04ld%s", p->name, m->role,
             i + 1, m->changed ? "-renamed" : "");
    if (m->changed)
        m->status = strcmp(m->status, "running") == 0 ? "off" : "running";
}

/* Label set of a server; fw_value must have room for "fw-" + a number. */
static void server_labels(const struct gen_spec *g, const struct server_model *m,
                          struct labelset *ls, char *fw_value, size_t fw_len)
{
    ls->n = 0;
    bool has_role = false, has_fw = false, has_changed = false;
    for (size_t k = 0; k < g->nlabels && ls->n < MAX_LABELS; k++) {
        ls->v[ls->n++] = g->labels[k];
        has_role |= strcmp(g->labels[k].key, "role") == 0;
        has_fw |= strcmp(g->labels[k].key, "fw") == 0;
        has_changed |= strcmp(g->labels[k].key, "changed") == 0;
    }
    if (!has_role && ls->n < MAX_LABELS)
        ls->v[ls->n++] = (struct label){ "role", m->role };
    struct binding b[2];
    size_t nb = server_bindings(g, m->i, b);
    if (nb > 0 && b[0].selector && !has_fw && ls->n < MAX_LABELS) {
        snprintf(fw_value, fw_len, "fw-%ld", b[0].k);
        ls->v[ls->n++] = (struct label){ "fw", fw_value };
    }
    if (m->changed && !has_changed && ls->n < MAX_LABELS)
        ls->v[ls->n++] = (struct label){ "changed", "v2" };
}

static void render_labels(struct buf *b, const struct labelset *ls)
{
    buf_chr(b, '{');
    for (size_t k = 0; k < ls->n; k++) {
        if (k > 0)
            buf_chr(b, ',');
        buf_json_str(b, ls->v[k].key);
        buf_chr(b, ':');
        buf_json_str(b, ls->v[k].value);
    }
    buf_chr(b, '}');
}

static void render_created(struct buf *b, uint64_t h, bool zulu)
{
    char ts[32];
    format_rfc3339(CREATED_BASE + (int64_t)(h % CREATED_SPAN), zulu, ts);
    buf_json_str(b, ts);
}

/* Unique per index: TEST-NET-3, -2, -1, then 198.18.0.0/15, then
 * 100.64.0.0/10. */
static void ipv4_of(long i, uint8_t ip[4])
{
    uint32_t a;
    if (i < 254 * 3) {
        static const uint32_t nets[3] = { 0xcb007100, 0xc6336400, 0xc0000200 };
        a = nets[i / 254] + (uint32_t)(i % 254) + 1;
    } else if (i < 254 * 3 + 131070) {
        a = 0xc6120000u + (uint32_t)(i - 254 * 3) + 1;
    } else {
        a = 0x64400000u + (uint32_t)(i - 254 * 3 - 131070) + 1;
    }
    ip[0] = (uint8_t)(a >> 24);
    ip[1] = (uint8_t)(a >> 16);
    ip[2] = (uint8_t)(a >> 8);
    ip[3] = (uint8_t)a;
}

static void render_public_net(struct buf *b, const struct gen_spec *g,
                              const struct server_model *m)
{
    buf_str(b, "\"public_net\":{\"ipv4\":");
    bool v4 = m->cls == SC_NORMAL || m->cls == SC_PENDING || m->cls == SC_UNBOUND;
    bool v6 = m->cls != SC_PRIVATE;
    if (v4) {
        uint8_t ip[4];
        ipv4_of(m->i, ip);
        buf_str(b, "{\"id\":");
        buf_i64(b, m->id * 2);
        buf_str(b, ",\"ip\":\"");
        for (int k = 0; k < 4; k++) {
            if (k > 0)
                buf_chr(b, '.');
            buf_u64(b, ip[k]);
        }
        buf_str(b, "\",\"blocked\":false,\"dns_ptr\":\"static.");
        for (int k = 3; k >= 0; k--) {
            buf_u64(b, ip[k]);
            buf_chr(b, '.');
        }
        buf_str(b, "clients.your-server.de\"}");
    } else {
        buf_str(b, "null");
    }
    buf_str(b, ",\"ipv6\":");
    if (v6) {
        uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
        uint32_t n = (uint32_t)m->i + 1;
        a6[4] = (uint8_t)(n >> 8);
        a6[5] = (uint8_t)n;
        a6[6] = (uint8_t)(n >> 24);
        a6[7] = (uint8_t)(n >> 16);
        char txt[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a6, txt, sizeof txt) == NULL)
            snprintf(txt, sizeof txt, "2001:db8::");
        buf_str(b, "{\"id\":");
        buf_i64(b, m->id * 2 + 1);
        buf_str(b, ",\"ip\":\"");
        buf_str(b, txt);
        buf_str(b, "/64\",\"blocked\":false,\"dns_ptr\":[]}");
    } else {
        buf_str(b, "null");
    }
    buf_str(b, ",\"floating_ips\":[],\"firewalls\":[");
    struct binding bd[2];
    size_t nb = server_bindings(g, m->i, bd);
    for (size_t k = 0; k < nb; k++) {
        if (k > 0)
            buf_chr(b, ',');
        buf_str(b, "{\"id\":");
        buf_i64(b, g->id_base + FW_ID_OFFSET + bd[k].k);
        buf_str(b, m->cls == SC_PENDING ? ",\"status\":\"pending\"}"
                                        : ",\"status\":\"applied\"}");
    }
    buf_str(b, "]}");
}

/* Server type, location and image objects depend only on table entries:
 * they are formatted once (pthread_once) and copied into every server. */
#define FRAG_MAX 1400

static char frag_type[N_SERVER_TYPES][N_LOCATIONS][FRAG_MAX];
static char frag_loc[N_LOCATIONS][FRAG_MAX];
static char frag_img[N_IMAGES][2][FRAG_MAX];
static size_t frag_type_len[N_SERVER_TYPES][N_LOCATIONS];
static size_t frag_loc_len[N_LOCATIONS];
static size_t frag_img_len[N_IMAGES][2];
static pthread_once_t frag_once = PTHREAD_ONCE_INIT;

static size_t frag_check(int n)
{
    if (n < 0 || n >= FRAG_MAX) {
        fprintf(stderr, "fake-hetzner: internal error: fragment too long\n");
        abort();
    }
    return (size_t)n;
}

static void frag_init(void)
{
    for (size_t t = 0; t < N_SERVER_TYPES; t++) {
        const struct server_type *st = &server_types[t];
        for (size_t l = 0; l < N_LOCATIONS; l++) {
            const struct location *lo = &locations[l];
            frag_type_len[t][l] = frag_check(snprintf(
                frag_type[t][l], FRAG_MAX,
                "\"server_type\":{\"id\":%d,\"name\":\"%s\",\"description\":\"%s\","
                "\"cores\":%d,\"memory\":%d,\"disk\":%d,\"deprecated\":false,"
                "\"prices\":[{\"location\":\"%s\","
                "\"price_hourly\":{\"net\":\"%s\",\"gross\":\"%s\"},"
                "\"price_monthly\":{\"net\":\"%s\",\"gross\":\"%s\"},"
                "\"included_traffic\":21990232555520,"
                "\"price_per_tb_traffic\":{\"net\":\"1.0000\",\"gross\":\"1.1900\"}}],"
                "\"storage_type\":\"local\",\"cpu_type\":\"%s\",\"category\":\"%s\","
                "\"architecture\":\"%s\",\"deprecation\":null,"
                "\"locations\":[{\"id\":%d,\"name\":\"%s\",\"deprecation\":null,"
                "\"recommended\":true,\"available\":true}]}",
                st->id, st->name, st->description, st->cores, st->memory, st->disk,
                lo->name, st->hourly_net, st->hourly_gross, st->monthly_net,
                st->monthly_gross, st->cpu_type, st->category, st->arch, lo->id,
                lo->name));
        }
    }
    for (size_t l = 0; l < N_LOCATIONS; l++) {
        const struct location *lo = &locations[l];
        frag_loc_len[l] = frag_check(snprintf(
            frag_loc[l], FRAG_MAX,
            "\"location\":{\"id\":%d,\"name\":\"%s\",\"description\":\"%s\","
            "\"country\":\"%s\",\"city\":\"%s\",\"latitude\":%s,"
            "\"longitude\":%s,\"network_zone\":\"%s\"}",
            lo->id, lo->name, lo->description, lo->country, lo->city, lo->lat,
            lo->lon, lo->zone));
    }
    for (size_t i = 0; i < N_IMAGES; i++) {
        const struct image *im = &images[i];
        for (int arm = 0; arm < 2; arm++) {
            frag_img_len[i][arm] = frag_check(snprintf(
                frag_img[i][arm], FRAG_MAX,
                "\"image\":{\"id\":%d,\"type\":\"system\",\"status\":\"available\","
                "\"name\":\"%s\",\"description\":\"%s\",\"image_size\":null,"
                "\"disk_size\":5,\"created\":\"2024-04-25T12:00:00Z\","
                "\"created_from\":null,\"bound_to\":null,\"os_flavor\":\"%s\","
                "\"os_version\":\"%s\",\"rapid_deploy\":true,"
                "\"protection\":{\"delete\":false},\"deprecated\":null,"
                "\"deleted\":null,\"labels\":{},\"architecture\":\"%s\"}",
                im->id + arm, im->name, im->description, im->flavor, im->version,
                arm ? "arm" : "x86"));
        }
    }
}

static void render_private_net(struct buf *b, const struct gen_spec *g,
                               const struct server_model *m)
{
    buf_str(b, "\"private_net\":[");
    if (m->cls == SC_PRIVATE || m->i % 4 == 0) {
        uint32_t n = (uint32_t)m->i + 2;
        buf_printf(b,
                   "{\"network\":%d,\"ip\":\"10.%u.%u.%u\",\"alias_ips\":[],"
                   "\"mac_address\":\"86:00:00:%02x:%02x:%02x\"}",
                   4710 + g->ordinal, (n >> 16) & 255, (n >> 8) & 255, n & 255,
                   (n >> 16) & 255, (n >> 8) & 255, n & 255);
    }
    buf_chr(b, ']');
}

static void render_server(const struct project *p, int version, long i,
                          struct buf *b)
{
    const struct gen_spec *g = &p->gen;
    struct server_model m;
    server_model(p, version, i, &m);

    if (pthread_once(&frag_once, frag_init) != 0) {
        b->oom = true;
        return;
    }
    size_t li = mix64(m.h + 3) % N_LOCATIONS;
    size_t ti = mix64(m.h + 4) % N_SERVER_TYPES;
    if (server_types[ti].eu_only && strcmp(locations[li].zone, "eu-central") != 0)
        ti = 3 + mix64(m.h + 4) % 3;                   /* a cpx type */
    const struct server_type *t = &server_types[ti];

    buf_str(b, "{\"id\":");
    buf_i64(b, m.id);
    buf_str(b, ",\"name\":");
    buf_json_str(b, m.name);
    buf_str(b, ",\"status\":\"");
    buf_str(b, m.status);
    buf_str(b, "\",\"created\":");
    render_created(b, m.h, i % 2 == 0);
    buf_chr(b, ',');
    render_public_net(b, g, &m);
    buf_chr(b, ',');
    render_private_net(b, g, &m);
    buf_chr(b, ',');
    buf_mem(b, frag_type[ti][li], frag_type_len[ti][li]);
    buf_chr(b, ',');
    buf_mem(b, frag_loc[li], frag_loc_len[li]);
    buf_chr(b, ',');
    if (i % 13 == 12) {
        buf_str(b, "\"image\":null");
    } else {
        size_t ii = mix64(m.h + 5) % N_IMAGES;
        int arm = strcmp(t->arch, "arm") == 0;
        buf_mem(b, frag_img[ii][arm], frag_img_len[ii][arm]);
    }
    buf_str(b, ",\"iso\":null,\"rescue_enabled\":false,\"locked\":false,"
               "\"backup_window\":");
    buf_str(b, i % 5 == 0 ? "\"22-02\"" : "null");
    buf_str(b, ",\"outgoing_traffic\":");
    buf_u64(b, mix64(m.h + 6) % 1000000000000ULL);
    buf_str(b, ",\"ingoing_traffic\":");
    buf_u64(b, mix64(m.h + 7) % 1000000000000ULL);
    buf_str(b, ",\"included_traffic\":21990232555520,\"protection\":");
    buf_str(b, i % 11 == 0 ? "{\"delete\":true,\"rebuild\":true}"
                           : "{\"delete\":false,\"rebuild\":false}");
    buf_str(b, ",\"labels\":");
    struct labelset ls;
    char fwv[32];
    server_labels(g, &m, &ls, fwv, sizeof fwv);
    render_labels(b, &ls);
    buf_str(b, ",\"volumes\":[],\"load_balancers\":[],\"primary_disk_size\":");
    buf_i64(b, t->disk);
    buf_str(b, ",\"placement_group\":null}");
}

/* -------------------------------------------------------- SSH keys */

static size_t put_string(uint8_t *out, const void *s, uint32_t n)
{
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    memcpy(out + 4, s, n);
    return 4 + (size_t)n;
}

static void fill_random(uint8_t *out, size_t n, uint64_t h)
{
    for (size_t k = 0; k < n; k++) {
        if (k % 8 == 0)
            h = mix64(h + k);
        out[k] = (uint8_t)(h >> (8 * (k % 8)));
    }
}

#define MAX_BLOB 1200

/* The SSH wire-format public key blob; returns its length. */
static size_t key_blob(const struct key_type *kt, uint64_t h, uint8_t *blob)
{
    uint8_t tmp[1100] = { 0 };  /* rsa8192: sign byte + 1024 */
    size_t n = 0;
    if (kt->kind == KEY_ED25519) {
        n += put_string(blob + n, "ssh-ed25519", 11);
        fill_random(tmp, 32, h);
        n += put_string(blob + n, tmp, 32);
    } else if (kt->kind == KEY_RSA) {
        static const uint8_t e[3] = { 0x01, 0x00, 0x01 };
        size_t bytes = (size_t)kt->bits / 8;
        n += put_string(blob + n, "ssh-rsa", 7);
        n += put_string(blob + n, e, 3);
        tmp[0] = 0x00;          /* mpint sign byte: the top bit is set */
        fill_random(tmp + 1, bytes, h);
        tmp[1] |= 0x80;
        tmp[bytes] |= 0x01;     /* odd modulus */
        n += put_string(blob + n, tmp, (uint32_t)bytes + 1);
    } else {
        size_t coord = kt->bits == 521 ? 66 : (size_t)kt->bits / 8;
        char curve[16];
        char name[32];
        snprintf(curve, sizeof curve, "nistp%d", kt->bits);
        snprintf(name, sizeof name, "ecdsa-sha2-%s", curve);
        n += put_string(blob + n, name, (uint32_t)strlen(name));
        n += put_string(blob + n, curve, (uint32_t)strlen(curve));
        tmp[0] = 0x04;
        fill_random(tmp + 1, coord * 2, h);
        if (kt->bits == 521) {
            tmp[1] &= 0x01;
            tmp[1 + coord] &= 0x01;
        }
        n += put_string(blob + n, tmp, (uint32_t)(1 + coord * 2));
    }
    return n;
}

static const char *key_type_name(const struct key_type *kt, char *tmp, size_t n)
{
    switch (kt->kind) {
    case KEY_ED25519: return "ssh-ed25519";
    case KEY_RSA: return "ssh-rsa";
    default:
        snprintf(tmp, n, "ecdsa-sha2-nistp%d", kt->bits);
        return tmp;
    }
}

static void key_name(const struct project *p, long j, char *out, size_t n)
{
    const struct gen_spec *g = &p->gen;
    uint64_t h = item_hash(g, RES_SSH_KEYS, j);
    const struct key_type *kt = &g->key_types[(size_t)j % g->nkey_types];
    const char *who = persons[mix64(h + 1) % (sizeof persons / sizeof persons[0])];
    const char *kind = kt->kind == KEY_ED25519 ? "ed25519"
                       : kt->kind == KEY_RSA ? "rsa" : "ecdsa";
    snprintf(out, n, "%s-%s-%ld", who, kind, j + 1);
}

static void render_ssh_key(const struct project *p, long j, struct buf *b)
{
    const struct gen_spec *g = &p->gen;
    uint64_t h = item_hash(g, RES_SSH_KEYS, j);
    const struct key_type *kt = &g->key_types[(size_t)j % g->nkey_types];
    const char *who = persons[mix64(h + 1) % (sizeof persons / sizeof persons[0])];

    uint8_t blob[MAX_BLOB];
    size_t bn = key_blob(kt, mix64(h + 2), blob);
    char b64[MAX_BLOB * 4 / 3 + 8];
    if (base64_encode(blob, bn, b64, sizeof b64) == 0) {
        b->oom = true;
        return;
    }
    uint8_t dig[16];
    md5(blob, bn, dig);
    char fp[48];
    for (int k = 0; k < 16; k++)
        snprintf(fp + k * 3, sizeof fp - (size_t)k * 3, "%02x%s", dig[k],
                 k < 15 ? ":" : "");
    char name[96], tn[32];
    key_name(p, j, name, sizeof name);

    buf_str(b, "{\"id\":");
    buf_i64(b, g->id_base + KEY_ID_OFFSET + j);
    buf_str(b, ",\"name\":");
    buf_json_str(b, name);
    buf_str(b, ",\"fingerprint\":\"");
    buf_str(b, fp);
    buf_str(b, "\",\"public_key\":\"");
    buf_str(b, key_type_name(kt, tn, sizeof tn));
    buf_chr(b, ' ');
    buf_str(b, b64);
    if (j % 3 != 2) {
        buf_chr(b, ' ');
        buf_str(b, who);
        buf_chr(b, '@');
        buf_str(b, hosts[(size_t)j % 3]);
    }
    buf_str(b, "\",\"labels\":");
    if (j % 2 == 1) {
        buf_str(b, "{\"owner\":");
        buf_json_str(b, who);
        buf_chr(b, '}');
    } else {
        buf_str(b, "{}");
    }
    buf_str(b, ",\"created\":");
    render_created(b, mix64(h + 3), j % 2 == 0);
    buf_chr(b, '}');
}

/* ------------------------------------------------------- firewalls */

static void render_rule(struct buf *b, const struct rule *r)
{
    buf_str(b, "{\"description\":");
    buf_json_str(b, r->description);
    buf_str(b, ",\"direction\":\"");
    buf_str(b, r->direction);
    bool in = strcmp(r->direction, "in") == 0;
    buf_str(b, "\",\"source_ips\":[");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            buf_str(b, "],\"destination_ips\":[");
        if ((pass == 0) != in)
            continue;
        for (int k = 0; k < 3 && r->ips[k] != NULL; k++) {
            if (k > 0)
                buf_chr(b, ',');
            buf_json_str(b, r->ips[k]);
        }
    }
    buf_str(b, "],\"protocol\":\"");
    buf_str(b, r->protocol);
    buf_str(b, "\",\"port\":");
    buf_json_str(b, r->port);
    buf_chr(b, '}');
}

static void firewall_name(const struct gen_spec *g, long k, char *out, size_t n)
{
    const struct shape *s = &shapes[g->shapes[(size_t)k % g->nshapes]];
    snprintf(out, n, "fw-%ld-%s", k, s->slug);
}

static void render_firewall(const struct project *p, int version, long k,
                            struct buf *b)
{
    const struct gen_spec *g = &p->gen;
    uint64_t h = item_hash(g, RES_FIREWALLS, k);
    const struct shape *s = &shapes[g->shapes[(size_t)k % g->nshapes]];
    char name[64];
    firewall_name(g, k, name, sizeof name);

    buf_str(b, "{\"id\":");
    buf_i64(b, g->id_base + FW_ID_OFFSET + k);
    buf_str(b, ",\"name\":");
    buf_json_str(b, name);
    buf_str(b, ",\"labels\":");
    buf_str(b, k % 2 == 0 ? "{\"managed-by\":\"terraform\"}" : "{}");
    buf_str(b, ",\"created\":");
    render_created(b, h, k % 2 == 0);
    buf_str(b, ",\"rules\":[");
    size_t nr = 0;
    for (size_t r = 0; r < s->n; r++, nr++) {
        if (nr > 0)
            buf_chr(b, ',');
        render_rule(b, &s->rules[r]);
    }
    if (version == 2 && k == 0) {
        if (nr > 0)
            buf_chr(b, ',');
        render_rule(b, &rule_v2_extra);
    }
    buf_str(b, "],\"applied_to\":[");

    /* Direct bindings first, in server id order, then the selector. */
    long start = model_index(g, version, RES_SERVERS, 0);
    long end = start + (long)gen_count(g, version, RES_SERVERS);
    size_t nout = 0;
    if (g->firewalls > 0 && g->bind != BIND_NONE) {
        long f = g->firewalls;
        /* Servers bound to k: primary i % f == k, and in mixed mode the
         * second binding of i % f == k - 1 with i % 7 == 0.  Walk both
         * residue classes in step so the ids come out ascending. */
        long a1 = start + ((k - start % f) % f + f) % f;
        long km1 = (k + f - 1) % f;
        long a2 = start + ((km1 - start % f) % f + f) % f;
        bool extra = g->bind == BIND_MIXED && f > 1;
        while (a1 < end || (extra && a2 < end)) {
            long i;
            bool second = extra && a2 < end && (a1 >= end || a2 < a1);
            if (second) {
                i = a2;
                a2 += f;
            } else {
                i = a1;
                a1 += f;
            }
            struct binding bd[2];
            size_t nb = server_bindings(g, i, bd);
            size_t q = second ? 1 : 0;
            if (nb <= q || bd[q].k != k || bd[q].selector)
                continue;
            if (nout++ > 0)
                buf_chr(b, ',');
            buf_str(b, "{\"type\":\"server\",\"server\":{\"id\":");
            buf_i64(b, g->id_base + 1 + i);
            buf_str(b, "}}");
        }
    }
    if (fw_is_selector(g, k) && g->bind != BIND_NONE && g->firewalls > 0) {
        if (nout++ > 0)
            buf_chr(b, ',');
        buf_printf(b, "{\"type\":\"label_selector\",\"label_selector\":"
                      "{\"selector\":\"fw=fw-%ld\"},\"applied_to_resources\":[", k);
        long f = g->firewalls;
        size_t nres = 0;
        for (long i = start + ((k - start % f) % f + f) % f; i < end; i += f) {
            struct binding bd[2];
            size_t nb = server_bindings(g, i, bd);
            if (nb == 0 || bd[0].k != k || !bd[0].selector)
                continue;
            if (nres++ > 0)
                buf_chr(b, ',');
            buf_str(b, "{\"type\":\"server\",\"server\":{\"id\":");
            buf_i64(b, g->id_base + 1 + i);
            buf_str(b, "}}");
        }
        buf_str(b, "]}");
    }
    buf_str(b, "]}");
}

/* ------------------------------------------------------- interface */

void gen_render(const struct project *p, int version, enum resource r,
                size_t idx, struct buf *b)
{
    long i = model_index(&p->gen, version, r, idx);
    switch (r) {
    case RES_SERVERS: render_server(p, version, i, b); break;
    case RES_SSH_KEYS: render_ssh_key(p, i, b); break;
    case RES_FIREWALLS: render_firewall(p, version, i, b); break;
    default: break;
    }
}

void gen_meta(const struct project *p, int version, enum resource r,
              size_t idx, struct item_meta *m)
{
    const struct gen_spec *g = &p->gen;
    long i = model_index(g, version, r, idx);
    m->labels.n = 0;
    m->name = m->store;
    if (r == RES_SERVERS) {
        struct server_model sm;
        server_model(p, version, i, &sm);
        snprintf(m->store, 200, "%s", sm.name);
        server_labels(g, &sm, &m->labels, m->store + 200, 32);
    } else if (r == RES_SSH_KEYS) {
        key_name(p, i, m->store, 200);
        if (i % 2 == 1) {
            uint64_t h = item_hash(g, RES_SSH_KEYS, i);
            m->labels.v[0] = (struct label){
                "owner", persons[mix64(h + 1) % (sizeof persons / sizeof persons[0])]
            };
            m->labels.n = 1;
        }
    } else {
        firewall_name(g, i, m->store, 200);
        if (i % 2 == 0) {
            m->labels.v[0] = (struct label){ "managed-by", "terraform" };
            m->labels.n = 1;
        }
    }
}
