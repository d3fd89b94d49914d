"""PyTorch reference definitions of the four architectures, used to cross-check the
TensorFlow.js implementation. ResNet (CIFAR, option-A shortcuts) and vgg_bn_drop are
written here after their descriptions in shared/paper/reference-implementation.md;
GoogLeNet and MobileNetV2 come from torchvision."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

CIFAR10_MEAN = (0.491, 0.482, 0.447)
CIFAR10_STD = (0.247, 0.243, 0.262)
RESNET_BLOCKS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        # Option A: subsample the identity and zero-pad planes//4 channels on each side.
        self.pad = planes // 4 if stride != 1 or in_planes != planes else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size(3))
        return self.linear(out.flatten(1))


class ConvBNReLU(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-3)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class VGGBnDrop(nn.Module):
    # Conv widths; "M" = 2x2 ceil-mode max pool; floats = dropout rates.
    LAYOUT = [64, 0.3, 64, "M", 128, 0.4, 128, "M", 256, 0.4, 256, 0.4, 256, "M",
              512, 0.4, 512, 0.4, 512, "M", 512, 0.4, 512, 0.4, 512, "M"]

    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        layers = []
        channels = in_channels
        for item in self.LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            elif isinstance(item, float):
                layers.append(nn.Dropout(item))
            else:
                layers.append(ConvBNReLU(channels, item))
                channels = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build(arch, num_classes=10, in_channels=3):
    if arch in RESNET_BLOCKS:
        return CifarResNet(RESNET_BLOCKS[arch], num_classes, in_channels)
    if arch == "vgg_bn_drop":
        return VGGBnDrop(num_classes, in_channels)
    if arch == "googlenet":
        model = torchvision.models.GoogLeNet(num_classes=num_classes, aux_logits=False,
                                             transform_input=False, init_weights=True)
        if in_channels != 3:
            model.conv1.conv = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return model
    if arch == "mobilenet_v2":
        model = torchvision.models.MobileNetV2(num_classes=num_classes)
        if in_channels != 3:
            model.features[0][0] = nn.Conv2d(in_channels, 32, 3, stride=2, padding=1, bias=False)
        return model
    raise ValueError(f"unknown architecture {arch}")


def normalize(x):
    """(x - mean) / std per channel; a 1-channel input uses the means of the statistics."""
    c = x.shape[1]
    mean = torch.tensor(CIFAR10_MEAN if c == 3 else [sum(CIFAR10_MEAN) / 3])
    std = torch.tensor(CIFAR10_STD if c == 3 else [sum(CIFAR10_STD) / 3])
    return (x - mean.view(1, c, 1, 1)) / std.view(1, c, 1, 1)
