//! Disks joining a DDF container.

use super::*;
use crate::metadata::roles::*;
use crate::metadata::{NewDisk, Writer};

#[test]
fn a_new_disk_becomes_a_global_spare_with_its_own_copies() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    ddf.set_clock(1_796_083_200); // 2026-12-01
    let size = d.0[0].info.geom.size_bytes;
    let dev = DevT { major: 7, minor: 9 };
    let geom = DiskGeom { size_bytes: size, sector_size: 512 };
    let used = ddf.phys.used();
    assert!(ddf.add_disk(NewDisk { dev, serial: [0; 16], geom, scsi_id: 0, random: 0x1234_5678_9abc_def1 }));
    assert!(!ddf.add_disk(NewDisk { dev, serial: [0; 16], geom, scsi_id: 0, random: 7 }), "added once");
    let tiny = NewDisk {
        dev: DevT { major: 7, minor: 10 },
        serial: [0; 16],
        geom: DiskGeom { size_bytes: 16 << 20, sector_size: 512 },
        scsi_id: 0,
        random: 7,
    };
    assert!(!ddf.add_disk(tiny), "too small for DDF");
    assert_eq!(ddf.phys.used(), used + 1);
    let m = ddf.members.last().unwrap().clone();
    let first = ddf.members[0].clone();
    assert_eq!(
        (m.primary_lba, m.secondary_lba, m.workspace_lba),
        (first.primary_lba, first.secondary_lba, first.workspace_lba)
    );
    assert_eq!(&m.data().guid()[..16], b"Linux-MD20261201");
    let pd = m.pdnum.unwrap();
    let e = ddf.phys_entries().nth(pd).unwrap();
    assert_eq!(e.guid(), m.data().guid());
    assert_eq!(e.kind(), 0x01 | 0x04, "forced GUID, global spare");
    assert_eq!(e.state(), pd_state::ONLINE);
    let refnum = e.refnum();
    assert_eq!(refnum, m.data().refnum());
    assert_eq!(ddf.phys_entries().filter(|x| x.refnum() == refnum).count(), 1, "unique refnum");
    // Written to the new disk too, and loaded back with it.
    let mut copies = Vec::new();
    let mut buf = vec![0u8; ddf.render_len()];
    let n = ddf.begin_write();
    for i in 0..n {
        let dev_i = ddf.disk_dev(i).unwrap();
        let regions = Writer::render(&*ddf, i, geom, &mut buf);
        let regs: Vec<(u64, Vec<u8>)> =
            regions.iter().map(|r| (r.offset, buf[r.start..r.start + r.len].to_vec())).collect();
        copies.push((dev_i, regs));
    }
    let disks = Disks(
        copies
            .into_iter()
            .map(|(dev, regions)| SparseDisk { info: DiskInfo { dev, serial: [0; 16], geom }, regions })
            .collect(),
    );
    let mut disks = disks;
    let (again, notes) = load(&mut disks);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(again.members.len(), 4);
    assert!(again.members.iter().all(|m| m.pdnum.is_some()));
}
