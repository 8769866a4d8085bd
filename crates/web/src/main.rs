//! Mounts the Thrive app; everything else lives in the library modules.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(thrive_web::App);
}
