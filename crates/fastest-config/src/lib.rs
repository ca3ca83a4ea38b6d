//! Config stage: finds pytest's rootdir and inifile and exposes the options that shape collection.
//!
//! Mirrors `_pytest/config/findpaths.py` (`determine_setup`, `locate_config`) and the ini
//! types of `Parser.addini` (`args` are shell-split, `linelist` are split by lines).

pub mod fnmatch;
pub mod ini;
mod setup;

pub use setup::{
    determine_setup, normalize as normalize_path, ConfigError, IniValue, ProjectConfig,
    SetupRequest,
};
