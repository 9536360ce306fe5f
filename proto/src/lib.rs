//! Generated gRPC contracts of Asterism. One module per `.proto` package;
//! every service speaks only through these types.

pub mod common {
    tonic::include_proto!("asterism.common.v1");
}

pub mod registrar {
    tonic::include_proto!("asterism.registrar.v1");
}

pub mod router {
    tonic::include_proto!("asterism.router.v1");
}

pub mod media {
    tonic::include_proto!("asterism.media.v1");
}
