//! Rootdir/inifile determination (`determine_setup`) and typed access to ini options.

use crate::ini::parse_ini;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went wrong while reading configuration; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Directory '{0}' not found. Check your '--rootdir' option.")]
    RootdirMissing(PathBuf),
    #[error("-o/--override-ini expects option=value style (got: '{0}').")]
    BadOverride(String),
    #[error("{0}: [pytest] section in setup.cfg files is no longer supported, change to [tool:pytest] instead.")]
    SetupCfgPytestSection(PathBuf),
}

/// One option value: ini mode keeps the raw string, toml mode keeps native lists.
#[derive(Debug, Clone, PartialEq)]
pub enum IniValue {
    Str(String),
    List(Vec<String>),
}

/// The inputs of `determine_setup`, taken from the command line.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    pub invocation_dir: PathBuf,
    /// Positional arguments (paths or node ids) as the user typed them.
    pub args: Vec<String>,
    /// `-c FILE`.
    pub inifile: Option<String>,
    /// `--rootdir DIR`.
    pub rootdir: Option<String>,
    /// `-o name=value` overrides, in order.
    pub overrides: Vec<String>,
}

/// The resolved project configuration.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    pub rootdir: PathBuf,
    pub inifile: Option<PathBuf>,
    pub invocation_dir: PathBuf,
    values: BTreeMap<String, IniValue>,
    /// `[tool.fastest]` options from pyproject.toml, when present.
    pub fastest: BTreeMap<String, IniValue>,
}

const CONFIG_NAMES: [&str; 7] = [
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

impl ProjectConfig {
    /// A config with no ini file, rooted at `rootdir` (used by tests and tools).
    pub fn bare(rootdir: &Path) -> Self {
        ProjectConfig {
            rootdir: rootdir.to_path_buf(),
            inifile: None,
            invocation_dir: rootdir.to_path_buf(),
            values: BTreeMap::new(),
            fastest: BTreeMap::new(),
        }
    }

    pub fn raw(&self, name: &str) -> Option<&IniValue> {
        self.values.get(name)
    }

    pub fn set(&mut self, name: &str, value: IniValue) {
        self.values.insert(name.to_string(), value);
    }

    /// An `args`-type option: shell-split string, or a toml list as is.
    pub fn args(&self, name: &str) -> Option<Vec<String>> {
        Some(match self.values.get(name)? {
            IniValue::Str(s) => shlex::split(s)
                .unwrap_or_else(|| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()),
            IniValue::List(l) => l.clone(),
        })
    }

    /// A `linelist`-type option: non-empty stripped lines.
    pub fn linelist(&self, name: &str) -> Option<Vec<String>> {
        Some(match self.values.get(name)? {
            IniValue::Str(s) => s
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            IniValue::List(l) => l.clone(),
        })
    }

    pub fn string(&self, name: &str) -> Option<String> {
        match self.values.get(name)? {
            IniValue::Str(s) => Some(s.clone()),
            IniValue::List(l) => Some(l.join(" ")),
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        let s = self.string(name)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "y" | "t" | "on" => Some(true),
            "0" | "false" | "no" | "n" | "f" | "off" | "" => Some(false),
            _ => None,
        }
    }

    pub fn python_files(&self) -> Vec<String> {
        self.args("python_files")
            .unwrap_or_else(|| vec!["test_*.py".into(), "*_test.py".into()])
    }

    pub fn python_classes(&self) -> Vec<String> {
        self.args("python_classes")
            .unwrap_or_else(|| vec!["Test".into()])
    }

    pub fn python_functions(&self) -> Vec<String> {
        self.args("python_functions")
            .unwrap_or_else(|| vec!["test".into()])
    }

    pub fn norecursedirs(&self) -> Vec<String> {
        self.args("norecursedirs").unwrap_or_else(|| {
            [
                "*.egg",
                ".*",
                "_darcs",
                "build",
                "CVS",
                "dist",
                "node_modules",
                "venv",
                "{arch}",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        })
    }

    pub fn testpaths(&self) -> Vec<String> {
        self.args("testpaths").unwrap_or_default()
    }

    pub fn addopts(&self) -> Vec<String> {
        self.args("addopts").unwrap_or_default()
    }

    /// Every option, for hashing the configuration into cache keys.
    pub fn fingerprint_material(&self) -> String {
        format!("{:?}|{:?}|{:?}", self.rootdir, self.values, self.fastest)
    }
}

type Loaded = (BTreeMap<String, IniValue>, BTreeMap<String, IniValue>);

/// pytest's `load_config_dict_from_file`: None when the file holds no pytest config.
fn load_config_file(path: &Path) -> Result<Option<Loaded>, ConfigError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let read = || {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let from_section = |s: &BTreeMap<String, String>| -> BTreeMap<String, IniValue> {
        s.iter()
            .map(|(k, v)| (k.clone(), IniValue::Str(v.clone())))
            .collect()
    };
    match ext {
        "ini" => {
            let ini = parse_ini(&read()?).map_err(parse_err)?;
            if let Some(s) = ini.section("pytest") {
                return Ok(Some((from_section(s), BTreeMap::new())));
            }
            if name == "pytest.ini" || name == ".pytest.ini" {
                return Ok(Some(Default::default()));
            }
            Ok(None)
        }
        "cfg" => {
            let ini = parse_ini(&read()?).map_err(parse_err)?;
            if let Some(s) = ini.section("tool:pytest") {
                return Ok(Some((from_section(s), BTreeMap::new())));
            }
            if ini.section("pytest").is_some() {
                return Err(ConfigError::SetupCfgPytestSection(path.to_path_buf()));
            }
            Ok(None)
        }
        "toml" => {
            let doc: toml::Table = read()?
                .parse()
                .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
            if name == "pytest.toml" || name == ".pytest.toml" {
                let table = doc.get("pytest").and_then(|v| v.as_table());
                return Ok(Some((
                    table.map(toml_mode).unwrap_or_default(),
                    BTreeMap::new(),
                )));
            }
            let tool = doc.get("tool").and_then(|v| v.as_table());
            let fastest = tool
                .and_then(|t| t.get("fastest"))
                .and_then(|v| v.as_table())
                .map(toml_mode)
                .unwrap_or_default();
            let Some(pytest) = tool
                .and_then(|t| t.get("pytest"))
                .and_then(|v| v.as_table())
            else {
                return Ok(None);
            };
            let mut native = pytest.clone();
            let ini_options = native.remove("ini_options");
            if !native.is_empty() && ini_options.is_some() {
                return Err(parse_err(
                    "Cannot use both [tool.pytest] (native TOML types) and [tool.pytest.ini_options] (string-based INI format) simultaneously.".into(),
                ));
            }
            if !native.is_empty() {
                return Ok(Some((toml_mode(&native), fastest)));
            }
            match ini_options.as_ref().and_then(|v| v.as_table()) {
                Some(t) => Ok(Some((toml_mode(t), fastest))),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn toml_scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        // Python's str() of a bool is capitalised.
        toml::Value::Boolean(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

fn toml_mode(t: &toml::Table) -> BTreeMap<String, IniValue> {
    t.iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::Array(a) => IniValue::List(a.iter().map(toml_scalar).collect()),
                other => IniValue::Str(toml_scalar(other)),
            };
            (k.clone(), value)
        })
        .collect()
}

fn absolutepath(invocation_dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        invocation_dir.join(path)
    };
    normalize(&joined)
}

/// `os.path.normpath` without touching the filesystem.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in p.components() {
        match comp {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            c => out.push(c.as_os_str()),
        }
    }
    out
}

fn get_dirs_from_args(invocation_dir: &Path, args: &[String]) -> Vec<PathBuf> {
    args.iter()
        .filter(|a| !a.starts_with('-'))
        .map(|a| absolutepath(invocation_dir, a.split("::").next().unwrap_or("")))
        .filter(|p| p.exists())
        .map(|p| {
            if p.is_dir() {
                p
            } else {
                p.parent().unwrap().to_path_buf()
            }
        })
        .collect()
}

fn get_common_ancestor(invocation_dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        if !path.exists() {
            continue;
        }
        common = Some(match common {
            None => path.clone(),
            Some(c) => {
                if path.starts_with(&c) {
                    c
                } else if c.starts_with(path) {
                    path.clone()
                } else {
                    common_path(&c, path)
                }
            }
        });
    }
    match common {
        None => invocation_dir.to_path_buf(),
        Some(c) if c.is_file() => c.parent().unwrap().to_path_buf(),
        Some(c) => c,
    }
}

fn common_path(a: &Path, b: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for (x, y) in a.components().zip(b.components()) {
        if x != y {
            break;
        }
        out.push(x.as_os_str());
    }
    out
}

type Located = Option<(PathBuf, PathBuf, Loaded)>;

fn locate_config(args: &[PathBuf]) -> Result<Located, ConfigError> {
    let mut found_pyproject: Option<PathBuf> = None;
    for arg in args {
        for base in arg.ancestors() {
            for name in CONFIG_NAMES {
                let p = base.join(name);
                if !p.is_file() {
                    continue;
                }
                if name == "pyproject.toml" && found_pyproject.is_none() {
                    found_pyproject = Some(p.clone());
                }
                if let Some(loaded) = load_config_file(&p)? {
                    return Ok(Some((base.to_path_buf(), p, loaded)));
                }
            }
        }
    }
    Ok(found_pyproject.map(|p| {
        // A pyproject.toml without pytest config still fixes the rootdir; its
        // [tool.fastest] table still applies.
        let fastest = load_config_file(&p)
            .ok()
            .flatten()
            .map(|l| l.1)
            .unwrap_or_default();
        (
            p.parent().unwrap().to_path_buf(),
            p,
            (BTreeMap::new(), fastest),
        )
    }))
}

/// pytest's `determine_setup`.
pub fn determine_setup(req: &SetupRequest) -> Result<ProjectConfig, ConfigError> {
    let inv = &req.invocation_dir;
    let dirs = get_dirs_from_args(inv, &req.args);
    let mut rootdir: Option<PathBuf> = None;
    let mut inifile = None;
    let mut loaded: Loaded = Default::default();
    if let Some(ini) = &req.inifile {
        let p = absolutepath(inv, ini);
        loaded = load_config_file(&p)?.unwrap_or_default();
        if req.rootdir.is_none() {
            rootdir = Some(p.parent().unwrap().to_path_buf());
        }
        inifile = Some(p);
    } else {
        let ancestor = get_common_ancestor(inv, &dirs);
        if let Some((r, p, l)) = locate_config(std::slice::from_ref(&ancestor))? {
            rootdir = Some(r);
            inifile = Some(p);
            loaded = l;
        }
        if rootdir.is_none() && req.rootdir.is_none() {
            rootdir = ancestor
                .ancestors()
                .find(|d| d.join("setup.py").is_file())
                .map(Path::to_path_buf);
            if rootdir.is_none() {
                if dirs != [ancestor.clone()] {
                    if let Some((r, p, l)) = locate_config(&dirs)? {
                        rootdir = Some(r);
                        inifile = Some(p);
                        loaded = l;
                    }
                }
                if rootdir.is_none() {
                    let r = get_common_ancestor(inv, &[inv.clone(), ancestor.clone()]);
                    rootdir = Some(if r.parent().is_none() { ancestor } else { r });
                }
            }
        }
    }
    if let Some(r) = &req.rootdir {
        let r = absolutepath(inv, r);
        if !r.is_dir() {
            return Err(ConfigError::RootdirMissing(r));
        }
        rootdir = Some(r);
    }
    let (mut values, fastest) = loaded;
    for o in &req.overrides {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| ConfigError::BadOverride(o.clone()))?;
        values.insert(k.to_string(), IniValue::Str(v.to_string()));
    }
    Ok(ProjectConfig {
        rootdir: rootdir.expect("rootdir determined"),
        inifile,
        invocation_dir: inv.clone(),
        values,
        fastest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(dir: &Path, args: &[&str]) -> SetupRequest {
        SetupRequest {
            invocation_dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn finds_pytest_ini_above_the_args() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("tests/sub")).unwrap();
        std::fs::write(root.join("pytest.ini"), "[pytest]\ntestpaths = tests\n").unwrap();
        let cfg = determine_setup(&req(&root.join("tests/sub"), &[])).unwrap();
        assert_eq!(cfg.rootdir, root);
        assert_eq!(cfg.testpaths(), vec!["tests".to_string()]);
    }

    #[test]
    fn pyproject_without_pytest_table_still_sets_rootdir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("pyproject.toml"), "[project]\nname='x'\n").unwrap();
        let cfg = determine_setup(&req(&root.join("a"), &[])).unwrap();
        assert_eq!(cfg.rootdir, root);
        assert!(cfg.python_files().contains(&"test_*.py".to_string()));
    }

    #[test]
    fn toml_ini_options_and_overrides() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::write(
            root.join("pyproject.toml"),
            "[tool.pytest.ini_options]\naddopts = \"-ra -q\"\npython_files = [\"check_*.py\"]\n",
        )
        .unwrap();
        let mut r = req(&root, &[]);
        r.overrides = vec!["addopts=".into()];
        let cfg = determine_setup(&r).unwrap();
        assert_eq!(cfg.python_files(), vec!["check_*.py".to_string()]);
        assert!(cfg.addopts().is_empty());
    }

    #[test]
    fn setup_cfg_needs_tool_pytest_section() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::write(root.join("setup.cfg"), "[metadata]\nname = x\n").unwrap();
        std::fs::write(root.join("tox.ini"), "[pytest]\nmarkers = slow\n").unwrap();
        let cfg = determine_setup(&req(&root, &[])).unwrap();
        assert_eq!(cfg.inifile, Some(root.join("tox.ini")));
    }
}
