//! MAIA's downstream experiments: what descriptions of units are for beyond describing
//! them. [`logreg`] fits the sparse classifiers of the spurious-feature experiment and
//! [`spurious`] sets them side by side; [`selection`] asks an agent which units to keep;
//! [`bias`] scores a reported failure condition against a planted one.

pub mod bias;
pub mod logreg;
pub mod selection;
pub mod spurious;
