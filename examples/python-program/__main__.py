"""A Longshore endpoint from Python: the same ServerlessEndpoint component the TypeScript library exports,
through the SDK that `pulumi package add ../../provider` generates (import pulumi_longshore).

It joins an existing platform (a ServerlessPlatform deployed by another stack, e.g. the root project's
`local` stack) and deploys one endpoint whose GPU workers scale from zero on the platform's queue.
Config (pulumi config set ...):
  platformNamespace, gatewayUrl, scalerAddress   the platform's outputs
  image                                          a worker image pinned by digest (repo@sha256:...)
  endpointId                                     optional, default "hello-py"
  prePullPauseImage                              optional: the pause image the image pre-pull idles on
                                                 (by digest; default registry.k8s.io/pause:3.10)
"""
import pulumi
import pulumi_longshore as longshore

cfg = pulumi.Config()

endpoint = longshore.ServerlessEndpoint(
    "hello-py",
    platform=longshore.PlatformRefArgs(
        namespace=cfg.require("platformNamespace"),
        gateway_url=cfg.require("gatewayUrl"),
        scaler_address=cfg.require("scalerAddress"),
    ),
    endpoint_id=cfg.get("endpointId") or "hello-py",
    image=cfg.require("image"),
    min_workers=0,
    max_workers=1,
    idle_timeout_seconds=5,
    execution_timeout_seconds=120,
    scaler_type=longshore.ScalerType.QUEUE_DELAY,
    scaler_value=1,
    gpu_count=1,
    # GPU endpoints keep their image on the nodes (pre-pull); on an offline cluster, name a local pause image.
    pre_pull=longshore.EndpointPrePullArgs(pause_image=cfg.get("prePullPauseImage")) if cfg.get("prePullPauseImage") else None,
)

pulumi.export("endpointId", endpoint.endpoint_id)
pulumi.export("jobUrl", endpoint.job_url)
pulumi.export("workerDeployment", endpoint.deployment_name)
pulumi.export("scaledObject", endpoint.scaled_object_name)
