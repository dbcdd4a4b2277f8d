//! The MyEPO Mailbox contract as mailroom understands it — **the one place** to correct it
//! once the real Swagger has been read (`shared/api/myepo-mailbox.md` §9).
//!
//! Everything here is `[inferred]` in the API notes: the default contract (§4) plus the
//! variants the client must tolerate (§5). Paths are relative to `[myepo] api_base_url`.
//!
//! **One file flat, several files nested, in every profile** (decision on §4 against §5.2):
//! the default contract lists a communication with one file flat (`fileName` on the item,
//! downloaded at [`FILE_PATH`]); a communication with several files is listed with a
//! [`F_DOCUMENTS`] array whatever else the office's shape is (a flat item cannot carry two
//! files), each downloaded at [`DOCUMENT_PATH`] or its `href`. The client accepts both shapes
//! in every profile and archives every listed document.
//!
//! **An `href` is followed only on the origin of `api_base_url`** (§5.3): the bearer token
//! belongs to that origin alone (see `client.rs`).

/// E1: list communications.
pub const LIST_PATH: &str = "v1/communications";
/// E2: download the single file of a communication (`{id}` is percent-encoded).
pub const FILE_PATH: &str = "v1/communications/{id}/file";
/// E2 (nested documents): download one document of a communication.
pub const DOCUMENT_PATH: &str = "v1/communications/{id}/documents/{document}";
/// E3: mark a list of communications handled.
pub const MARK_PATH: &str = "v1/communications/handled";

/// Query parameter names.
pub const P_HANDLED: &str = "handled";
pub const P_OFFSET: &str = "offset";
pub const P_LIMIT: &str = "limit";
pub const P_DISPATCH_FROM: &str = "dispatchDateFrom";
/// Download side effect; mailroom sends `false` on every download, whatever its shape
/// (marking is a separate, later step, and an office may default to `true`).
pub const P_SET_HANDLED: &str = "setHandled";

/// The body key of E3.
pub const MARK_IDS_KEY: &str = "communicationIds";

/// Field names, canonical first, then the aliases seen in the variants.
pub const F_ID: &[&str] = &["communicationId", "id", "messageId"];
pub const F_APPLICATION: &[&str] = &["applicationNumber", "applicationNumberText"];
pub const F_DOCUMENT_CODE: &[&str] = &["documentCode", "formNumber", "documentType"];
pub const F_TITLE: &[&str] = &["documentTitle", "title", "subject"];
pub const F_DISPATCH: &[&str] = &["dispatchDate", "documentDate", "dateOfDispatch"];
pub const F_DELIVERED: &[&str] = &["deliveryDateTime", "deliveredAt"];
pub const F_USER_REF: &[&str] = &["userReference", "yourReference"];
pub const F_HANDLED: &[&str] = &["handled"];
pub const F_PROCEDURE: &[&str] = &["procedure"];
pub const F_FILE_NAME: &[&str] = &["fileName", "filename"];
pub const F_MEDIA_TYPE: &[&str] = &["mediaType", "mimeType", "contentType"];
pub const F_SIZE: &[&str] = &["fileSize", "size"];
pub const F_DOCUMENTS: &[&str] = &["documents", "files", "attachments"];
pub const F_DOCUMENT_ID: &[&str] = &["documentId", "id"];
pub const F_HREF: &[&str] = &["href", "downloadUrl", "url"];
/// Where the list of communications is in a page (or the page is a bare array).
pub const F_PAGE_ITEMS: &[&str] = &["communications", "items", "content", "data"];
pub const F_PAGE_TOTAL: &[&str] = &["totalCount", "total", "totalElements"];
/// E3 reply: the per-item list, and each item's status.
pub const F_MARK_RESULTS: &[&str] = &["results", "items", "data"];
pub const F_MARK_STATUS: &[&str] = &["status", "result"];

/// Mark-handled item statuses meaning success.
pub const MARK_OK: &[&str] = &["HANDLED", "SUCCESS", "OK", "DONE"];
pub const MARK_ALREADY: &[&str] = &["ALREADY_HANDLED"];
pub const MARK_NOT_FOUND: &[&str] = &["NOT_FOUND", "UNKNOWN"];

/// HTTP statuses with which E3 rejects a whole batch (one bad id can cause them).
pub const MARK_BATCH_REJECT: &[u16] = &[400, 404, 409, 422];

/// Largest page the office accepts (§4: `limit` too large is a 400).
pub const MAX_PAGE: u32 = 100;
