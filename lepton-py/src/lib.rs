//! `lepton_ai._lepton`: the native half of the Python package.
//!
//! Thin by design: it converts Python objects to lepton-core types and back, releases the GIL
//! around every model run, fetch, decrypt and decompress, and maps errors (in [`errors`]). All
//! logic lives in lepton-core; the public Python API lives in `python/lepton_ai`.

use pyo3::prelude::*;

mod dataset;
mod dataset_info;
mod errors;
mod logging;
mod model;
mod model_file;
mod model_info;
mod platform;
mod tensor_info;
mod tune;

#[pymodule(gil_used = false)]
fn _lepton(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    logging::install();
    model::register(m)?;
    dataset::register(m)?;
    dataset_info::register(m)?;
    platform::register(m)?;
    model_file::register(m)?;
    model_info::register(m)?;
    tensor_info::register(m)?;
    errors::register(m)?;
    tune::register(m)?;
    Ok(())
}
