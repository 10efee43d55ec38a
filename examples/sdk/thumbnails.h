// The payload types shared by the example producer and worker (lib/client/typed.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

struct Thumbnail {  // one task: an image and the width to scale it to
  std::string image;
  int width = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Thumbnail, image, width)

struct Album {  // the job's data
  std::string title;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Album, title)

struct Thumbnails {  // the job name and its data type
  static constexpr std::string_view kName = "thumbnails";
  using Data = Album;
};

struct Scale {  // the stage type and the types of its data and its tasks' data
  static constexpr std::string_view kType = "example-scale";
  using Data = nlohmann::json;
  using TaskData = Thumbnail;
};
