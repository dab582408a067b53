//! systemd readiness notification (`sd_notify`) without libsystemd: one
//! datagram to the socket named by `$NOTIFY_SOCKET` (a path, or an abstract
//! name written with a leading `@`).

use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// Send `state` (e.g. `READY=1`) to the service manager, if there is one.
/// Returns whether a manager was told.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return false };
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.split_first() {
        Some((b'@', name)) => SocketAddrUnix::new_abstract_name(name),
        Some((b'/', _)) => SocketAddrUnix::new(bytes),
        _ => return false,
    };
    let Ok(addr) = addr else { return false };
    let Ok(fd) = rustix::net::socket_with(AddressFamily::UNIX, SocketType::DGRAM, SocketFlags::CLOEXEC, None) else {
        return false;
    };
    rustix::net::sendto(&fd, state.as_bytes(), SendFlags::NOSIGNAL, &addr).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("mdmon-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = rustix::net::socket(AddressFamily::UNIX, SocketType::DGRAM, None).unwrap();
        rustix::net::bind(&rx, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1\nMAINPID=42"));
        let mut buf = [0u8; 64];
        let n = rustix::io::read(&rx, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nMAINPID=42");
        std::env::set_var("NOTIFY_SOCKET", "relative");
        assert!(!notify("READY=1"), "only absolute or abstract addresses");
        std::env::remove_var("NOTIFY_SOCKET");
        assert!(!notify("READY=1"), "no manager");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
