//! Validation (pure: the host's facts come in a [`HostInfo`]): every value of every section is
//! checked and every problem is returned with its field path and reason. One function per
//! section ([`io`], [`schedule`], [`nfs`], [`traffic`]); the files a chain names are checked
//! by [`Chain::file_problems`] with scc-nf's own parsers.

mod hosts;
mod io;
mod nfs;
mod schedule;
mod traffic;

use std::path::{Path, PathBuf};

use super::host::HostInfo;
use super::parse::{ChainError, FieldError};
use super::schema::Chain;

/// The problems found so far.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<FieldError>);

impl Problems {
    /// Records a problem at `path`.
    pub(super) fn add(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            reason: reason.into(),
        });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Chain {
    /// Checks every value (pure: the host facts come in `host`). Returns every problem.
    pub fn validate(&self, host: &HostInfo) -> Result<(), ChainError> {
        let errs = self.problems(host);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ChainError::Invalid(errs))
        }
    }

    /// Every problem of the chain, empty when valid.
    pub fn problems(&self, host: &HostInfo) -> Vec<FieldError> {
        let mut p = Problems::default();
        if !super::valid_name(&self.name, 64) {
            p.add(
                "name",
                format!(
                    "`{}`: a chain name is 1..=64 characters of [a-z0-9-]",
                    self.name
                ),
            );
        }
        io::check_io(&self.io, "io", &mut p);
        io::interconnect(self, host, &mut p);
        schedule::schedule(self, host, &mut p);
        nfs::nfs(self, host, &mut p);
        p.0.extend(crate::fusion::fusion_problems(self));
        if let Some(t) = &self.traffic {
            traffic::traffic(self, t, host, &mut p);
        }
        // The scheduling plan (scc-sched's rules: Fig. 7 kinds, cores, housekeeping core),
        // once every value is right.
        if !host.online.is_empty() && !self.nfs.is_empty() && p.is_empty() {
            schedule::plan(self, host, &mut p);
        }
        p.0
    }

    /// Checks the files the chain names (`routes_file`, `rules_file`, `config`, relative to
    /// `base`, the chain file's folder) with scc-nf's own parsers: missing, unreadable or
    /// malformed files are reported with the field path and scc-nf's reason (file and line).
    pub fn file_problems(&self, base: &Path) -> Vec<FieldError> {
        let mut p = Problems::default();
        for (i, nf) in self.nfs.iter().enumerate() {
            let path = |f: &PathBuf| base.join(f).display().to_string();
            if let Some(f) = &nf.routes_file
                && let Err(e) = scc_nf::route::load_routes_file(&path(f))
            {
                p.add(format!("nf[{i}].routes_file"), e.to_string());
            }
            if let Some(f) = &nf.rules_file
                && let Err(e) = scc_nf::filter::load_rules_file(&path(f))
            {
                p.add(format!("nf[{i}].rules_file"), e.to_string());
            }
            if let Some(f) = &nf.config
                && let Err(e) = scc_nf::config::NfConfig::load(&path(f))
            {
                p.add(format!("nf[{i}].config"), e.to_string());
            }
        }
        p.0
    }
}
