//! Property tests of the pure parts: CPU lists, Eq. (1), plans.

use proptest::prelude::*;
use scc_sched::*;

proptest! {
    #[test]
    fn cpu_list_roundtrip(mut cores in proptest::collection::vec(0usize..256, 0..40)) {
        let text = format_cpu_list(&cores);
        cores.sort_unstable();
        cores.dedup();
        prop_assert_eq!(parse_cpu_list(&text).unwrap(), cores);
    }

    #[test]
    fn cpu_list_parser_never_panics(s in "[0-9,\\- ]{0,20}") {
        let _ = parse_cpu_list(&s);
    }

    #[test]
    fn eq1_is_monotonic_and_bounded(p in 100u32..139) {
        let a = cfs_time_quantum(p).unwrap();
        let b = cfs_time_quantum(p + 1).unwrap();
        prop_assert!(a > b);
        prop_assert!(b.as_millis() >= 5 && a.as_millis() <= 800);
    }

    #[test]
    fn plans_place_every_nf_on_allowed_cores(
        n in 1usize..8,
        ncores in 1usize..6,
        multi in any::<bool>(),
        with_switch in any::<bool>(),
    ) {
        let online: Vec<usize> = (0..ncores).collect();
        let req = PlanRequest {
            kind: if multi { PlanKind::Multiprocessor } else { PlanKind::Uniprocessor },
            nfs: (0..n).map(|i| NfRequest { name: format!("nf{i}"), cores: None }).collect(),
            switch: with_switch.then(|| SwitchRequest { name: "sw".into(), core: None, spec: None }),
            nf_spec: SchedSpec::new(Policy::Batch { nice: -5 }),
            cores: vec![],
            online: online.clone(),
        };
        match plan(&req) {
            Ok(p) => {
                prop_assert_eq!(p.placements.len(), n + usize::from(with_switch));
                for pl in &p.placements {
                    prop_assert!(pl.cores.iter().all(|c| online.contains(c)));
                }
                if !multi {
                    prop_assert_eq!(p.reserved.len(), 1);
                }
                if multi && with_switch {
                    let sw = p.placement("sw").unwrap().cores.clone();
                    for pl in p.placements.iter().filter(|pl| pl.name != "sw") {
                        prop_assert!(pl.cores.iter().all(|c| !sw.contains(c)));
                    }
                }
                // Every core in use has exactly one scheduler instance.
                prop_assert_eq!(p.instances.len(), p.reserved.len());
            }
            Err(e) => {
                // Only a multiprocessor plan with a switch on a 1-core host may fail here.
                prop_assert!(multi && with_switch && ncores == 1, "{}", e);
            }
        }
    }
}
