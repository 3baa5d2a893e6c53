#!/usr/bin/python3
"""Prints an integration as a person wants to see it: the job's result, the
inventory, SSH keys, firewalls and the compliance tests with their failing
resources.  Reads only Redis (the keys of PROTOCOL.md)."""
import argparse
import json
import sys
import time

import redis


def table(rows, headers):
    widths = [len(h) for h in headers]
    for row in rows:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(str(c)))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--prefix", default="slate")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--integration", required=True)
    ap.add_argument("--wait", help="job id to wait for")
    a = ap.parse_args()
    r = redis.Redis(port=a.port, decode_responses=True)
    p, w, i = a.prefix, a.workspace, a.integration
    if a.wait:
        deadline = time.time() + 60
        res = None
        while time.time() < deadline and not res:
            for _id, f in r.xrange(f"{p}:{{q}}:results"):
                if f.get("job_id") == a.wait and f.get("status") in ("succeeded", "failed", "dead"):
                    res = f
            time.sleep(0.1)
        if not res:
            print("no result within 60 s", file=sys.stderr)
            return 1
        print(f"\nResult of job {a.wait}: {res['status']}"
              + (f" ({res['error_code']}: {res['error']})" if res.get("error_code") else "")
              + f" in {res['duration_ms']} ms")
        if res.get("summary"):
            s = json.loads(res["summary"])
            if "servers" in s:
                print(f"  servers {s['servers']}, SSH keys {s['ssh_keys']}, firewalls {s['firewalls']}, "
                      f"assets added {s['assets']['added']}, changed {s['assets']['changed']}, "
                      f"removed {s['assets']['removed']}")
    integ = r.hgetall(f"{p}:{{{w}}}:integration:{i}")
    if not integ:
        print("\nThe integration is not connected.")
        return 0
    print(f"\nIntegration {w}/{i}: {integ.get('status')}, token ...{integ.get('token_hint')} "
          f"(encrypted at rest), last sync {integ.get('last_sync_at')}, "
          f"API budget {integ.get('ratelimit_remaining')}/{integ.get('ratelimit_limit')}")

    ids = r.smembers(f"{p}:{{{w}}}:integration:{i}:assets")
    assets = [json.loads(v) for v in r.hmget(f"{p}:{{{w}}}:assets", sorted(ids)) if v]
    assets.sort(key=lambda x: x["hetzner_id"])
    print(f"\nAssets ({len(assets)} compute instances)")
    table([(x["name"], x["region"], x["instance_type"], x["status"], x["ipv4"] or "-",
            x["ipv6"] or "-", ",".join(f"{f['id']}:{f['status']}" for f in x["firewalls"]) or "-",
            x["owner_label"] or "-") for x in assets],
          ["name", "region", "type", "status", "ipv4", "ipv6", "firewalls", "owner label"])

    keys = r.hgetall(f"{p}:{{{w}}}:integration:{i}:ssh_keys")
    print(f"\nSSH keys ({len(keys)})")
    table([(k, v["name"], v["key_type"], v["bits"], v["sha256"]) for k, v in
           sorted(((k, json.loads(v)) for k, v in keys.items()), key=lambda t: int(t[0]))],
          ["id", "name", "type", "bits", "fingerprint"])

    fws = r.hgetall(f"{p}:{{{w}}}:integration:{i}:firewalls")
    print(f"\nFirewalls ({len(fws)})")
    rows = []
    for k, v in sorted(fws.items(), key=lambda t: int(t[0])):
        f = json.loads(v)
        rules = "; ".join(f"{x['direction']} {x['protocol']} {x.get('port') or '*'} "
                          f"{','.join(x.get('source_ips') or x.get('destination_ips') or [])}"
                          for x in f["rules"])
        rows.append((k, f["name"], len(f["servers"]), rules[:90]))
    table(rows, ["id", "name", "servers", "rules"])

    tests = r.hgetall(f"{p}:{{{w}}}:integration:{i}:tests")
    print("\nAutomated tests")
    order = ["hetzner.cloud_linked", "inventory.active_owners", "inventory.descriptions",
             "hetzner.servers_firewalled", "hetzner.ssh_not_public", "hetzner.ssh_keys_inventoried"]
    for tid in order + sorted(set(tests) - set(order)):
        if tid not in tests:
            continue
        t = json.loads(tests[tid])
        c = t["controls"]
        print(f"  [{t['status'].upper():>14}] {t['title']}  (checked {t['checked']}; "
              f"ISO 27001 {', '.join(c['iso27001_2022'])}; SOC 2 {', '.join(c['soc2'])})")
        for kind in ("failing", "errors"):
            for f in t[kind][:5]:
                print(f"        {kind[:-1] if kind == 'errors' else 'fails'}: {f['name'] or f['resource']}: {f['reason']}")
            if len(t[kind]) > 5:
                print(f"        ... and {len(t[kind]) - 5} more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
