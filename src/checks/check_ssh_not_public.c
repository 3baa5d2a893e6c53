/*
 * check_ssh_not_public.c: hetzner.ssh_not_public.
 *
 * Judged per server, never per firewall, so that rules that each open part of
 * the internet are caught together.  For a server with a public IP:
 *
 *   1. bound firewalls = the server's own public_net.firewalls (applied or
 *      pending) and every firewall whose applied_to reaches it (pending when
 *      the server does not list it).  No applied one at all: exposed, "no
 *      firewall applied".
 *   2. sources = the source_ips of every rule of a bound firewall with
 *      direction "in", protocol "tcp" and a port covering an SSH port (22,
 *      and the `ssh-port` label when it is a number 1-65535).  Rules that
 *      cannot reach SSH are not parsed at all.
 *   3. the sources become address ranges, merged per family; the server is
 *      exposed when one merged range holds at least as many addresses as an
 *      IPv4 /ipv4_broad_prefix or an IPv6 /ipv6_broad_prefix.
 *
 * A port or source that does not parse in a rule that bears on SSH makes the
 * server undecidable (`errors`), unless the sources that did parse already
 * expose it: the allowed set only grows with more sources, so the server is
 * then exposed whatever the unreadable part says, and it fails.
 *
 * The failing reason names the rules that make each broad range: the sources
 * that are broad on their own when the range holds any (not the small ones
 * they cover), else every source inside it (the halves, /9s... that add up).
 */
#include <string.h>

#include "checks_int.h"
#include "slate/alloc.h"

/* At most this many rules or problems are named in one reason, and this many
 * sources of one rule, then "and N more": a project with hundreds of rules or
 * sources must not make one finding huge. */
#define REASON_ITEMS_MAX 8
/* Untrusted strings quoted in a reason (a port or source that does not parse)
 * are cut to this many bytes. */
#define QUOTE_MAX 64

struct bound {
    int64_t id;
    const struct slate_firewall *fw;   /* NULL when the firewall was not read */
    bool applied;
};

struct source {
    struct slate_ip_range r;
    size_t bound, rule, src;
};

struct scratch {
    struct bound *bound;
    size_t n_bound, cap_bound;
    struct source *src;
    size_t n_src, cap_src;
    struct slate_ip_range *merged;
    size_t cap_merged;
    bool *single;
    size_t cap_single;
    struct slate_buf problems;
    size_t n_problems;
};

static void add_bound(struct scratch *sc, const struct slate_inventory *inv, int64_t id,
                      bool applied)
{
    for (size_t i = 0; i < sc->n_bound; i++) {
        if (sc->bound[i].id == id) {
            sc->bound[i].applied |= applied;
            return;
        }
    }
    sc->bound = slate_grow(sc->bound, &sc->cap_bound, sc->n_bound + 1, sizeof *sc->bound);
    sc->bound[sc->n_bound++] = (struct bound){id, slate_inv_firewall(inv, id), applied};
}

/* Appends s in single quotes, cut to QUOTE_MAX bytes on a UTF-8 boundary. */
static void put_quoted(struct slate_buf *b, const char *s)
{
    size_t n = strnlen(s, QUOTE_MAX + 1);
    bool cut = n > QUOTE_MAX;
    if (cut) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    slate_buf_puts(b, "'");
    slate_buf_append(b, s, n);
    slate_buf_puts(b, cut ? "...'" : "'");
}

static void put_bound(struct slate_buf *b, const struct bound *bd)
{
    if (!bd->applied)
        slate_buf_puts(b, "pending ");
    slate_buf_firewall(b, bd->fw, bd->id);
}

/* Starts the next item of a "; "-separated list; false once the list holds
 * REASON_ITEMS_MAX items (the caller counts the rest). */
static bool next_item(struct slate_buf *b, size_t *n)
{
    if (*n >= REASON_ITEMS_MAX) {
        (*n)++;
        return false;
    }
    if ((*n)++)
        slate_buf_puts(b, "; ");
    return true;
}

static void end_items(struct slate_buf *b, size_t n)
{
    if (n > REASON_ITEMS_MAX)
        slate_buf_printf(b, "; and %zu more", n - REASON_ITEMS_MAX);
}

/* Closes the sources of one rule: ", and N more" past REASON_ITEMS_MAX. */
static void end_sources(struct slate_buf *b, bool writing, size_t n)
{
    if (writing && n > REASON_ITEMS_MAX)
        slate_buf_printf(b, ", and %zu more", n - REASON_ITEMS_MAX);
}

static bool port_in(unsigned lo, unsigned hi, const unsigned *ports, int n_ports)
{
    for (int i = 0; i < n_ports; i++) {
        if (ports[i] >= lo && ports[i] <= hi)
            return true;
    }
    return false;
}

static bool is(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

/* Step 2: the sources of every rule that reaches SSH, and what did not parse. */
static void collect_sources(struct scratch *sc, const unsigned *ports, int n_ports)
{
    for (size_t b = 0; b < sc->n_bound; b++) {
        const struct bound *bd = &sc->bound[b];
        if (!bd->fw) {
            if (next_item(&sc->problems, &sc->n_problems)) {
                put_bound(&sc->problems, bd);
                slate_buf_puts(&sc->problems, " is bound to the server but was not read");
            }
            continue;
        }
        for (size_t r = 0; r < bd->fw->n_rules; r++) {
            const struct slate_fw_rule *rule = &bd->fw->rules[r];
            if (!is(rule->direction, "in") || !is(rule->protocol, "tcp"))
                continue;
            unsigned lo, hi;
            if (!slate_port_range_parse(rule->port, &lo, &hi)) {
                if (next_item(&sc->problems, &sc->n_problems)) {
                    put_bound(&sc->problems, bd);
                    slate_buf_puts(&sc->problems, " has an inbound tcp rule whose port ");
                    put_quoted(&sc->problems, rule->port);
                    slate_buf_puts(&sc->problems, " does not parse");
                }
                continue;
            }
            if (!port_in(lo, hi, ports, n_ports))
                continue;
            for (size_t s = 0; s < rule->n_source_ips; s++) {
                struct slate_ip_range range;
                const char *text = rule->source_ips[s] ? rule->source_ips[s] : "";
                if (!slate_cidr_parse(text, &range, NULL)) {
                    if (next_item(&sc->problems, &sc->n_problems)) {
                        put_bound(&sc->problems, bd);
                        slate_buf_printf(&sc->problems, " allows tcp %s from ",
                                         rule->port ? rule->port : "any");
                        put_quoted(&sc->problems, text);
                        slate_buf_puts(&sc->problems, ", which is not a valid CIDR");
                    }
                    continue;
                }
                sc->src = slate_grow(sc->src, &sc->cap_src, sc->n_src + 1, sizeof *sc->src);
                sc->src[sc->n_src++] = (struct source){range, b, r, s};
            }
        }
    }
}

static bool broad(const struct slate_ip_range *r, const struct slate_check_config *cfg)
{
    return slate_ip_range_at_least(r, r->family == 4 ? cfg->ipv4_broad_prefix
                                                     : cfg->ipv6_broad_prefix);
}

static bool inside(const struct slate_ip_range *r, const struct slate_ip_range *m)
{
    return r->family == m->family && r->lo >= m->lo && r->hi <= m->hi;
}

/* Step 3: merges the sources; on exposure writes the rules to blame into
 * `reason` and returns true. */
static bool exposed(struct scratch *sc, const struct slate_check_config *cfg,
                    struct slate_buf *reason)
{
    sc->merged = slate_grow(sc->merged, &sc->cap_merged, sc->n_src, sizeof *sc->merged);
    for (size_t i = 0; i < sc->n_src; i++)
        sc->merged[i] = sc->src[i].r;
    size_t n_merged = slate_ip_ranges_merge(sc->merged, sc->n_src);
    size_t n_broad = 0;
    for (size_t i = 0; i < n_merged; i++) {
        if (broad(&sc->merged[i], cfg))
            sc->merged[n_broad++] = sc->merged[i];
    }
    if (n_broad == 0)
        return false;

    /* Per broad range: whether one source alone is broad (then only such
     * sources are named in it, not the small ones they cover). */
    sc->single = slate_grow(sc->single, &sc->cap_single, n_broad, sizeof *sc->single);
    for (size_t m = 0; m < n_broad; m++) {
        sc->single[m] = false;
        for (size_t i = 0; i < sc->n_src && !sc->single[m]; i++)
            sc->single[m] = inside(&sc->src[i].r, &sc->merged[m]) && broad(&sc->src[i].r, cfg);
    }

    size_t items = 0, in_item = 0;
    const struct source *prev = NULL;
    bool writing = false;
    for (size_t i = 0; i < sc->n_src; i++) {
        const struct source *s = &sc->src[i];
        bool named = false;
        for (size_t m = 0; m < n_broad && !named; m++)
            named = inside(&s->r, &sc->merged[m]) && (!sc->single[m] || broad(&s->r, cfg));
        if (!named)
            continue;
        const struct bound *bd = &sc->bound[s->bound];
        const struct slate_fw_rule *rule = &bd->fw->rules[s->rule];
        if (prev && prev->bound == s->bound && prev->rule == s->rule) {
            if (writing && in_item++ < REASON_ITEMS_MAX) {
                slate_buf_puts(reason, ", ");
                slate_buf_puts(reason, rule->source_ips[s->src]);
            }
        } else {
            end_sources(reason, writing, in_item);
            if ((writing = next_item(reason, &items))) {
                put_bound(reason, bd);
                slate_buf_puts(reason, " allows tcp ");
                slate_buf_puts(reason, rule->port ? rule->port : "any");
                slate_buf_puts(reason, " from ");
                slate_buf_puts(reason, rule->source_ips[s->src]);
            }
            in_item = 1;
        }
        prev = s;
    }
    end_sources(reason, writing, in_item);
    end_items(reason, items);
    return true;
}

/* 22, and the `ssh-port` label when it holds a port number. */
static int ssh_ports(const struct slate_server *srv, unsigned ports[2])
{
    int n = 0;
    ports[n++] = 22;
    const char *label = slate_labels_get(&srv->labels, "ssh-port");
    uint64_t v;
    if (label && slate_parse_u64(label, &v) && v >= 1 && v <= 65535 && v != 22)
        ports[n++] = (unsigned)v;
    return n;
}

void slate_check_ssh_not_public(const struct slate_check_input *in, struct slate_check_result *out)
{
    if (!slate_check_data_or_error(in, SLATE_NEED_SERVERS | SLATE_NEED_FIREWALLS, out))
        return;
    const struct slate_inventory *inv = in->inv;
    const struct slate_check_config *cfg = slate_check_cfg(in);
    struct scratch sc;
    memset(&sc, 0, sizeof sc);
    slate_buf_init(&sc.problems);
    struct slate_buf reason;
    slate_buf_init(&reason);

    for (size_t i = 0; i < inv->n_servers; i++) {
        const struct slate_server *srv = &inv->servers[i];
        if (!slate_server_is_public(srv)) {
            slate_findings_add_server(&out->not_applicable, in, srv, "no public IPv4 or IPv6");
            continue;
        }
        out->checked++;
        sc.n_bound = sc.n_src = sc.n_problems = 0;
        slate_buf_reset(&sc.problems);
        slate_buf_reset(&reason);

        /* Step 1. */
        bool any_applied = false;
        for (size_t k = 0; k < srv->n_firewalls; k++) {
            bool applied = srv->firewalls[k].status == SLATE_FW_APPLIED;
            add_bound(&sc, inv, srv->firewalls[k].id, applied);
            any_applied |= applied;
        }
        if (!any_applied) {
            slate_findings_add_server(&out->failing, in, srv, "no firewall applied");
            continue;
        }
        for (size_t f = 0; f < inv->n_firewalls; f++) {
            if (slate_firewall_reaches(&inv->firewalls[f], srv->id))
                add_bound(&sc, inv, inv->firewalls[f].id, false);
        }

        unsigned ports[2];
        int n_ports = ssh_ports(srv, ports);
        collect_sources(&sc, ports, n_ports);
        if (exposed(&sc, cfg, &reason)) {
            slate_findings_add_server(&out->failing, in, srv, reason.data);
        } else if (sc.n_problems) {
            end_items(&sc.problems, sc.n_problems);
            slate_findings_add_server(&out->errors, in, srv, sc.problems.data);
        }
    }
    slate_buf_free(&reason);
    slate_buf_free(&sc.problems);
    slate_free(sc.bound);
    slate_free(sc.src);
    slate_free(sc.merged);
    slate_free(sc.single);
}
