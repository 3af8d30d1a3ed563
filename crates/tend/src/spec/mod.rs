//! The service spec: the TOML model, profiles and overrides, and validation with errors
//! that point at file, line and column. Nothing here touches the operating system
//! except [`load_file`], which reads the file.
mod error;
mod expand;
mod load;
mod model;
mod validate;
mod values;

pub(crate) use error::did_you_mean;
pub use error::{Diagnostic, Location, SpecError};
pub use load::{
    load_file, load_file_or_salvage, load_str, load_str_or_salvage, schema, Failed, LoadOptions,
    Loaded, Salvaged,
};
pub use model::*;
pub use validate::start_order;
pub use values::{
    parse_duration, parse_host_port, parse_listen, parse_size, Duration, FdName, HttpUrl, Limit,
    Mode, Percent, ServiceName, Signal, Size, SocketAddress,
};
