"""Networks of the SGM: MLP blocks, image encoders, q_ω(η | x) and p_ψ(η | x̂)."""

from ._flow import (
    AbstractConditionalNormal as AbstractConditionalNormal,
    AbstractTransformationDensity as AbstractTransformationDensity,
    ConditionalNormal as ConditionalNormal,
    ImageConditioned as ImageConditioned,
    TransformationFlow as TransformationFlow,
    make_transformation_flow as make_transformation_flow,
)
from ._inference import (
    AbstractInferenceNet as AbstractInferenceNet,
    InferenceNet as InferenceNet,
    PointEstimate as PointEstimate,
    make_inference_net as make_inference_net,
)
from ._mlp import (
    MLP as MLP,
    PAPER_BASE_HIDDEN as PAPER_BASE_HIDDEN,
    PAPER_FEATURE_HIDDEN as PAPER_FEATURE_HIDDEN,
    PAPER_INFERENCE_HIDDEN as PAPER_INFERENCE_HIDDEN,
    AbstractImageEncoder as AbstractImageEncoder,
    BlurredEncoder as BlurredEncoder,
    ConvEncoder as ConvEncoder,
    MLPEncoder as MLPEncoder,
    ReluMLP as ReluMLP,
    dense as dense,
    gelu_layer_norm as gelu_layer_norm,
)
from ._pose_features import (
    N_MOMENT_FEATURES as N_MOMENT_FEATURES,
    N_TURNING as N_TURNING,
    PoseFeatureEncoder as PoseFeatureEncoder,
    image_moments as image_moments,
    turning_vectors as turning_vectors,
)
