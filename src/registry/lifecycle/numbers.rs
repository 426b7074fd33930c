//! Certificate numbers the registry assigns: taken from the year's sequence, skipping numbers
//! already in use (given explicitly, by the demo or by an import), so an assigned number never
//! collides. Numbers are reserved only for drafts that passed every check.

use std::collections::HashSet;

use super::{Registry, RegistryError};
use crate::domain::CertificateNumber;

/// Reservation rounds before giving up: each round takes as many numbers as are still needed,
/// so this bounds the run of numbers in use that can be skipped over in one call.
const MAX_ROUNDS: usize = 100_000;

impl Registry {
    /// `count` free numbers of `year`, in order, none in the store nor in `also_taken`.
    pub(crate) async fn allocate_numbers(
        &self,
        year: i32,
        count: usize,
        also_taken: &HashSet<String>,
    ) -> Result<Vec<CertificateNumber>, RegistryError> {
        let mut numbers = Vec::with_capacity(count);
        for _ in 0..MAX_ROUNDS {
            let need = count - numbers.len();
            if need == 0 {
                return Ok(numbers);
            }
            let first = self.store.reserve_sequence(year, need as u64).await?;
            let candidates: Vec<CertificateNumber> =
                (first..first + need as u64).map(|sequence| CertificateNumber::assigned(year, sequence)).collect();
            let in_store: HashSet<CertificateNumber> =
                self.store.existing_numbers(&candidates).await?.into_iter().collect();
            numbers.extend(
                candidates
                    .into_iter()
                    .filter(|number| !in_store.contains(number) && !also_taken.contains(number.as_str())),
            );
        }
        Err(RegistryError::Internal(format!("no free certificate number for {year} after {MAX_ROUNDS} reservations")))
    }
}
