"""tabdump in xCAT's format (tabutils.pm ``tabdump`` / ``output_table``).

The expected texts are what xCAT's own tabutils.pm printed, run through xCAT's client in bypass mode
(xcat.md 2.7) on the same rows: a header of the schema's columns, non-empty values in double quotes
with ``"`` doubled, empty and NULL values empty.
"""

from __future__ import annotations

from sntakeover.xcatsim import edit_state, init_cluster
from sntakeover.xcatsim.tabdump import USAGE
from tests.xcatsim_helpers import run

USAGE_TEXT = "".join(line + "\n" for line in USAGE)


def _cluster(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=4, sns=("sn1", "sn2"), statelite=False)
    with edit_state(c) as s:
        s["tables"]["statelite"] += [{"node": "compute", "image": "", "statemnt": 'ext"nfs:/state/$node'},
                                     {"node": "cn1", "statemnt": "10.1.0.2:/x", "comments": "a,b"}]
    return c


def test_statelite_quoting_and_empty_values(tmp_path):
    r = run(_cluster(tmp_path), "tabdump", "statelite")
    assert (r.rc, r.err) == (0, "")
    assert r.out == ('#node,image,statemnt,mntopts,comments,disable\n'
                     '"compute",,"ext""nfs:/state/$node",,,\n'
                     '"cn1",,"10.1.0.2:/x",,"a,b",\n')


def test_site_networks_hosts_noderes(tmp_path):
    c = _cluster(tmp_path)
    site = run(c, "tabdump", "site").out.splitlines()
    assert site[0] == "#key,value,comments,disable"
    assert '"sharedinstall","no",,' in site and '"xcatdport","3001",,' in site
    nets = run(c, "tabdump", "networks").out.splitlines()
    assert nets[0] == ("#netname,net,mask,mgtifname,gateway,dhcpserver,tftpserver,nameservers,ntpservers,"
                       "logservers,dynamicrange,staticrange,staticrangeincrement,nodehostname,ddnsdomain,vlanid,"
                       "domain,mtu,comments,disable")
    assert nets[2] == '"net1","10.1.0.0","255.255.0.0","en1","<xcatmaster>",,,,,,,,,,,,,,,'
    hosts = run(c, "tabdump", "hosts").out.splitlines()
    assert hosts[0] == "#node,ip,hostnames,otherinterfaces,comments,disable"
    assert '"cn1","10.1.1.1",,,,' in hosts
    res = run(c, "tabdump", "noderes").out.splitlines()
    assert res[0].startswith("#node,servicenode,netboot,tftpserver,tftpdir,nfsserver,monserver,nfsdir,")
    assert '"cn1","sn1,sn2",,"10.1.0.1",,"extnfs01","sn1,10.1.0.1",,,,,,"10.1.0.1",,,,,,,,,' in res


def test_a_change_shows_in_the_next_dump(tmp_path):
    c = _cluster(tmp_path)
    assert run(c, "snmove", "cn2", "-i", "-D", "10.1.0.2").rc == 0
    assert run(c, "tabdump", "statelite").out.splitlines()[-1] == '"cn2",,"10.1.0.2:/state/$node",,,'


def test_unknown_table_and_usage(tmp_path):
    c = _cluster(tmp_path)
    r = run(c, "tabdump", "nosuchtable")
    assert (r.rc, r.out, r.err) == (1, "", "Error: No such table: nosuchtable\n")
    assert (run(c, "tabdump", "-h").rc, run(c, "tabdump", "-h").out) == (0, USAGE_TEXT)
    r = run(c, "tabdump", "a", "b")
    assert (r.rc, r.out) == (1, USAGE_TEXT)
    tables = run(c, "tabdump").out.splitlines()
    assert tables == sorted(tables) and {"statelite", "site", "networks", "hosts", "noderes"} <= set(tables)
