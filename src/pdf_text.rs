//! STUB (not committed; replaced by the helper's module)
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct PdfTextError;
pub fn extract_text(pdf: &[u8]) -> Result<String, PdfTextError> {
    Ok(String::from_utf8_lossy(pdf).into_owned())
}
