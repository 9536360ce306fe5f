//! Generated gRPC contracts of Asterism. Modules mirror the `.proto`
//! packages (`asterism.<service>.v1`) so cross-package references resolve;
//! the short aliases below are what the services use.

#[allow(clippy::all)]
pub mod asterism {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("asterism.common.v1");
        }
    }
    pub mod registrar {
        pub mod v1 {
            tonic::include_proto!("asterism.registrar.v1");
        }
    }
    pub mod router {
        pub mod v1 {
            tonic::include_proto!("asterism.router.v1");
        }
    }
    pub mod media {
        pub mod v1 {
            tonic::include_proto!("asterism.media.v1");
        }
    }
    pub mod edge {
        pub mod v1 {
            tonic::include_proto!("asterism.edge.v1");
        }
    }
}

pub use asterism::common::v1 as common;
pub use asterism::edge::v1 as edge;
pub use asterism::media::v1 as media;
pub use asterism::registrar::v1 as registrar;
pub use asterism::router::v1 as router;
