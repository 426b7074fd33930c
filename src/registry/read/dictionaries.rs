//! The log's side of the packing dictionaries: which stretch an answer's dictionary belongs to,
//! when one is made anew and what it holds are the cache's (`cache::packing::dictionaries`);
//! the nodes it holds come from the registry's log, read here.

use std::sync::Arc;

use super::log::LogProof;
use super::Registry;
use crate::cache::packing::dictionaries::AnswerDictionaries;
use crate::cache::packing::Dictionary;
use crate::tlog::Hash;

impl Registry {
    /// The dictionary of `dictionaries` to pack `body`, an answer with the proof `log`, against:
    /// its stretch's, made now with `body` as the template if there is none (the stretch's
    /// shared nodes as `render_hashes` writes them, the way answers show them); the process's
    /// default dictionary if the log cannot give the nodes.
    pub(super) fn answer_dictionary(
        &self,
        dictionaries: &AnswerDictionaries,
        render_hashes: impl FnOnce(&[Hash]) -> Vec<u8>,
        log: &LogProof,
        body: &[u8],
    ) -> Option<Arc<Dictionary>> {
        let size = log.checkpoint.checkpoint.size;
        dictionaries.for_leaf(log.index, size, body, |first, leaves, min_shared| {
            match self.log_shared_nodes(first, leaves, size, min_shared) {
                Ok(nodes) => Some(render_hashes(&nodes)),
                Err(e) => {
                    tracing::warn!(error = %e, index = log.index, size, "no log nodes for a packing dictionary");
                    None
                }
            }
        })
    }
}
