/* Streaming evaluation gives the very bytes of whole-project evaluation:
 * random projects, split into pages of every size. */
#include <stdlib.h>
#include <string.h>

#include "slate/checks.h"
#include "unit.h"

static unsigned rng = 12345;
static unsigned rnd(unsigned n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % n;
}

static char *str(struct slate_arena *a, const char *s)
{
    return slate_arena_strdup(a, s);
}

static void random_project(struct slate_inventory *inv)
{
    static const char *const sources[] = {"0.0.0.0/0", "::/0", "10.0.0.0/8", "203.0.113.7/32",
                                          "0.0.0.0/1", "128.0.0.0/1", "10.0.0.300/8"};
    static const char *const ports[] = {"22", "80", "20-30", "any", NULL, "2222", "bad"};
    size_t nf = rnd(4);
    for (size_t f = 0; f < nf; f++) {
        struct slate_firewall *fw = slate_inventory_add_firewall(inv);
        fw->id = (int64_t)f + 1;
        fw->name = str(&inv->arena, f % 2 ? "edge" : "office");
        fw->n_rules = rnd(3);
        fw->rules = slate_arena_alloc(&inv->arena, (fw->n_rules + 1) * sizeof *fw->rules);
        for (size_t r = 0; r < fw->n_rules; r++) {
            struct slate_fw_rule *rule = &fw->rules[r];
            memset(rule, 0, sizeof *rule);
            rule->direction = str(&inv->arena, rnd(5) ? "in" : "out");
            rule->protocol = str(&inv->arena, rnd(5) ? "tcp" : "udp");
            const char *port = ports[rnd(7)];
            rule->port = port ? str(&inv->arena, port) : NULL;
            rule->n_source_ips = 1 + rnd(2);
            rule->source_ips = slate_arena_alloc(&inv->arena, 2 * sizeof(char *));
            for (size_t k = 0; k < rule->n_source_ips; k++)
                rule->source_ips[k] = str(&inv->arena, sources[rnd(7)]);
        }
        fw->n_servers = rnd(3);
        fw->servers = slate_arena_alloc(&inv->arena, 3 * sizeof(int64_t));
        for (size_t k = 0; k < fw->n_servers; k++)
            fw->servers[k] = (int64_t)(k * 3 + 1);
    }
    size_t nk = rnd(3);
    for (size_t k = 0; k < nk; k++) {
        struct slate_ssh_key *key = slate_inventory_add_ssh_key(inv);
        key->id = (int64_t)k + 100;
        key->name = rnd(4) ? str(&inv->arena, "ops") : NULL;
        key->fingerprint = str(&inv->arena, "aa:bb");
    }
    size_t ns = rnd(12);
    for (size_t i = 0; i < ns; i++) {
        struct slate_server *s = slate_inventory_add_server(inv);
        s->id = (int64_t)i + 1;
        s->name = str(&inv->arena, rnd(5) ? "web" : "");
        s->server_type = rnd(3) ? str(&inv->arena, "cx22") : NULL;
        s->ipv4 = rnd(4) ? str(&inv->arena, "203.0.113.9") : NULL;
        s->ipv6 = rnd(3) ? str(&inv->arena, "2001:db8::/64") : NULL;
        s->labels.n = rnd(2);
        s->labels.v = slate_arena_alloc(&inv->arena, 2 * sizeof *s->labels.v);
        if (s->labels.n) {
            s->labels.v[0].key = str(&inv->arena, rnd(2) ? "owner" : "ssh-port");
            s->labels.v[0].value = str(&inv->arena, rnd(2) ? "jane" : "2222");
        }
        s->n_firewalls = nf ? rnd(3) : 0;
        s->firewalls = slate_arena_alloc(&inv->arena, 3 * sizeof *s->firewalls);
        for (size_t k = 0; k < s->n_firewalls; k++) {
            s->firewalls[k].id = (int64_t)(rnd((unsigned)nf) + 1);
            s->firewalls[k].status = rnd(3) ? SLATE_FW_APPLIED : SLATE_FW_PENDING;
        }
    }
}

/* What a streaming sync stores for every test, given pages of `page` servers. */
static void streamed(const struct slate_check_input *whole, size_t page, struct slate_buf out[])
{
    const struct slate_inventory *inv = whole->inv;
    for (size_t t = 0; t < slate_n_checks; t++) {
        const struct slate_check_desc *d = &slate_checks[t];
        struct slate_buf items[3];
        size_t counts[3] = {0, 0, 0};
        long checked = 0;
        for (int l = 0; l < 3; l++)
            slate_buf_init(&items[l]);
        struct slate_inventory view = *inv;
        struct slate_check_input in = *whole;
        in.inv = &view;
        size_t start = 0;
        do {
            size_t n = d->per_server ? inv->n_servers - start : 0;
            if (n > page)
                n = page;
            view.servers = inv->servers + start;
            view.n_servers = n;
            in.n_servers_total = d->per_server ? 0 : inv->n_servers;
            struct slate_check_result r;
            slate_check_run(d, &in, &r);
            const struct slate_findings *lists[3] = {&r.failing, &r.not_applicable, &r.errors};
            for (int l = 0; l < 3; l++) {
                if (lists[l]->n && counts[l])
                    slate_buf_puts(&items[l], ",");
                slate_findings_json_items(lists[l], &items[l]);
                counts[l] += lists[l]->n;
            }
            checked += r.checked;
            slate_check_result_free(&r);
            start += n;
        } while (d->per_server && start < inv->n_servers);
        struct slate_buf parts[4];
        for (int i = 0; i < 4; i++)
            slate_buf_init(&parts[i]);
        slate_check_json_parts(d, slate_check_status_of(counts[0], counts[2], checked), checked,
                               whole->now_ms, parts);
        for (int i = 0; i < 4; i++) {
            slate_buf_append(&out[t], parts[i].data, parts[i].len);
            if (i < 3)
                slate_buf_append(&out[t], items[i].data, items[i].len);
            slate_buf_free(&parts[i]);
        }
        for (int l = 0; l < 3; l++)
            slate_buf_free(&items[l]);
    }
}

TEST(streamed_equals_whole)
{
    int64_t now = 1796416800000LL;
    struct slate_sync_state sync = {.connected = true, .status = "connected",
                                    .last_success_ms = now, .servers_complete = true,
                                    .ssh_keys_complete = true, .firewalls_complete = true};
    char *mem[] = {"jane"};
    struct slate_strset members = {mem, 1};
    struct slate_check_config cfg;
    slate_check_config_default(&cfg);
    for (int round = 0; round < 400; round++) {
        struct slate_inventory inv;
        slate_inventory_init(&inv);
        random_project(&inv);
        struct slate_check_input in = {.integration = "hz", .sync = &sync, .inv = &inv,
                                       .members = &members, .cfg = &cfg, .now_ms = now};
        struct slate_buf whole[8], part[8];
        for (size_t t = 0; t < slate_n_checks; t++) {
            struct slate_check_result r;
            slate_check_run(&slate_checks[t], &in, &r);
            slate_buf_init(&whole[t]);
            slate_check_result_json(&r, now, &whole[t]);
            slate_check_result_free(&r);
        }
        for (size_t page = 1; page <= 5; page++) {
            for (size_t t = 0; t < slate_n_checks; t++)
                slate_buf_init(&part[t]);
            streamed(&in, page, part);
            for (size_t t = 0; t < slate_n_checks; t++) {
                if (strcmp(whole[t].data, part[t].data) != 0) {
                    fprintf(stderr, "round %d page %zu test %s\n whole: %s\n pages: %s\n", round,
                            page, slate_checks[t].id, whole[t].data, part[t].data);
                    unit_failures++;
                }
                slate_buf_free(&part[t]);
            }
        }
        for (size_t t = 0; t < slate_n_checks; t++)
            slate_buf_free(&whole[t]);
        slate_inventory_free(&inv);
    }
}

UNIT_MAIN()
